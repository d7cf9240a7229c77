"""`mamfast dry-run` (also `mamfast run --dry-run`): the pipeline's plan, writing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mamfast.cli.common import console, fail, run_async, settings_or_exit, shown

if TYPE_CHECKING:
    from mamfast.config import Settings
    from mamfast.ops.dryrun import DryRunReport, PlannedRelease

COLOURS = {
    "would-process": "green",
    "done": "dim",
    "in-progress": "cyan",
    "needs-attention": "yellow",
    "refused": "red",
    "damaged": "red",
}


def register(app: typer.Typer) -> None:
    app.command(name="dry-run")(dry_run)


def dry_run(
    library: Annotated[
        Path | None, typer.Option(help="Libation library to scan (default MAMFAST_LIBRARY_DIR).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """What `mamfast run` would do, writing nothing: names, torrent sizes, piece counts.

    Creates no record, takes no lock, writes no file (the Libation command is not run)."""
    settings = settings_or_exit(library_dir=library)
    show_plan(settings, as_json=as_json)


def show_plan(settings: Settings, *, as_json: bool = False) -> None:
    from mamfast.cli.common import opened_engine
    from mamfast.ops.dryrun import never_ran, plan

    if settings.library_dir is None:
        fail("no library to scan: pass --library PATH or set MAMFAST_LIBRARY_DIR", code=2)

    async def body() -> DryRunReport:
        if never_ran(settings):
            return await plan(settings, None)
        async with opened_engine(settings) as engine:
            return await plan(settings, engine.store.read_many)

    report = run_async(body())
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    for entry in report.releases:
        _release(entry)
    found = report.discovery
    for reject in found.rejects:
        _line("red", "rejected", f"{reject.path}: {reject.reason}")
    for dup in found.duplicates:
        _line("red", "duplicate ASIN", f"{dup.asin}: {', '.join(map(str, dup.paths))}")
    for settling in found.settling:
        _line("yellow", "settling", f"{settling.path} (ready in {settling.ready_in_seconds:.0f}s)")
    for note in report.notes:
        _line("yellow", "note", note)
    console.print(
        f"dry run, nothing written: {report.count('would-process')} to process, "
        f"{report.count('done')} done, {report.count('in-progress')} under way, "
        f"{report.count('needs-attention')} needing attention, "
        f"{report.count('refused') + report.count('damaged')} refused, "
        f"{len(found.rejects)} rejected folder(s), {len(found.duplicates)} duplicate ASIN(s), "
        f"{len(found.settling)} settling",
        markup=False,
    )


def _line(colour: str, label: str, text: str) -> None:
    console.print(f"[{colour}]{label:<16}[/] {shown(text)}", highlight=False)


def _release(entry: PlannedRelease) -> None:
    from mamfast.torrents.pieces import human_size

    _line(COLOURS[entry.outcome], entry.outcome, f"{entry.asin}  {entry.title}")
    if entry.reason:
        console.print(f"    {shown(entry.reason)}", highlight=False)
    if entry.folder:
        console.print(f"    folder: {shown(entry.folder)}", highlight=False)
    for f in entry.files:
        console.print(f"      {shown(f.name)}  ({human_size(f.size)})", highlight=False)
    if entry.piece_length and entry.pieces:
        fit = f"longest path {entry.longest_path}/{entry.path_limit}"
        if entry.dropped or entry.truncated:
            fit += f", left out to fit: {', '.join(entry.dropped) or 'shortened with ...'}"
        console.print(
            f"    torrent: {human_size(entry.size)} in {entry.pieces} piece(s) of "
            f"{human_size(entry.piece_length)}; {fit}",
            highlight=False,
        )
    for warning in entry.warnings:
        console.print(f"    [yellow]warning:[/] {shown(warning)}", highlight=False)
