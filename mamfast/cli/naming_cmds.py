"""Naming and seed-folder commands: `naming preview`, `cleanup`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mamfast.cli.common import console, fail, settings_or_exit, shown
from mamfast.errors import MamfastError

# Naming, discovery and cleanup (which pulls the release store, arq, Redis and
# qBittorrent) are imported by the commands that use them, not by every start.
if TYPE_CHECKING:
    from mamfast.config import Settings
    from mamfast.library.book import Candidate
    from mamfast.library.report import DiscoveryReport
    from mamfast.release.naming.rules import NamingRules


def register(app: typer.Typer) -> None:
    naming = typer.Typer(help="MAM folder and file names.", no_args_is_help=True)
    naming.command(name="preview")(preview)
    app.add_typer(naming, name="naming")


def preview(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Folders to scan (default: the library).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the names as JSON.")] = False,
) -> None:
    """Show the MAM folder and file names staging would use, and flag shortened ones."""
    from mamfast.library.discovery import discover
    from mamfast.release.rules import naming_rules

    settings = settings_or_exit()
    try:
        rules = naming_rules(settings)
        report = discover(settings, paths or None)
    except MamfastError as exc:
        fail(str(exc), code=2)
    rows = [_preview_row(c, rules, settings) for c in report.releases]
    if as_json:
        print(json.dumps({"releases": rows, **_problems(report)}, indent=2, ensure_ascii=False))
        return
    _print_preview(rows, report, settings)


def _preview_row(candidate: Candidate, rules: NamingRules, settings: Settings) -> dict[str, Any]:
    from mamfast.release.naming.paths import mam_names

    row: dict[str, Any] = {"asin": candidate.asin, "source_dir": str(candidate.source_dir)}
    try:
        names = mam_names(
            candidate.asin,
            candidate.book,
            [*candidate.audio_files, *candidate.extra_files],
            rules,
            tag=settings.ripper_tag,
            limit=settings.path_limit,
        )
    except MamfastError as exc:
        row["problem"] = str(exc)
        return row
    row.update(
        folder=names.folder,
        files=names.files,
        longest=names.longest,
        truncated=names.truncated,
        dropped=names.dropped,
    )
    return row


def _problems(report: DiscoveryReport) -> dict[str, Any]:
    return {
        key: [item.model_dump(mode="json") for item in getattr(report, key)]
        for key in ("rejects", "settling", "duplicates")
    }


def _print_preview(rows: list[dict[str, Any]], report: DiscoveryReport, s: Settings) -> None:
    from rich.table import Table

    table = Table(header_style="bold", show_lines=True)
    table.add_column("Source", overflow="fold", ratio=2)
    table.add_column("MAM names", overflow="fold", ratio=3)
    flagged = 0
    for row in rows:
        if "problem" in row:
            table.add_row(shown(row["source_dir"]), f"[red]{shown(row['problem'])}[/]")
            continue
        files = "\n".join(f"  {shown(src)} -> {shown(dst)}" for src, dst in row["files"].items())
        notes = []
        if row["truncated"]:
            notes.append("shortened with ...")
        if row["dropped"]:
            notes.append(f"dropped: {', '.join(row['dropped'])}")
        flag = f"\n[yellow]{'; '.join(notes)} ({row['longest']}/{s.path_limit})[/]" if notes else ""
        flagged += bool(notes)
        table.add_row(shown(row["source_dir"]), f"[bold]{shown(row['folder'])}[/]/\n{files}{flag}")
    if rows:
        console.print(table)
    for reject in report.rejects:
        console.print(
            f"[red]rejected[/] {shown(str(reject.path))}: {shown(reject.reason)}", highlight=False
        )
    for dup in report.duplicates:
        console.print(f"[red]duplicate[/] {dup.asin}: {shown(dup.reason)}", highlight=False)
        for path in dup.paths:
            console.print(f"    {shown(path)}", highlight=False)
    for item in report.settling:
        line = f"{item.path} (changed {item.changed_seconds_ago:.0f}s ago)"
        console.print(f"[yellow]settling[/] {shown(line)}", highlight=False)
    console.print(
        f"{len(rows)} release(s), {flagged} shortened or with parts dropped, "
        f"{len(report.rejects)} rejected, {len(report.duplicates)} duplicate ASIN(s), "
        f"{len(report.settling)} settling"
    )
