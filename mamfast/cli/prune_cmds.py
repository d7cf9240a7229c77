"""`mamfast state prune`: list (with --apply, remove) records whose book left the library."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mamfast.cli.common import console, settings_or_exit, shown, with_engine

if TYPE_CHECKING:
    from mamfast.engine.engine import Engine
    from mamfast.ops.prune import PruneReport
    from mamfast.stages.services import Services


def state_prune(
    apply: Annotated[
        bool, typer.Option("--apply", help="Remove what is listed (default: only list it).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """List (with --apply, forget) releases whose source folder left the library.

    Only records: no file is ever deleted. Kept: releases complete or ready whose staged
    folder is still there (seeding, or waiting to be uploaded), records imported without
    a folder (so finished books are never redone), and releases being worked on."""
    from mamfast.ops.prune import prune

    settings = settings_or_exit()

    async def body(engine: Engine[Services]) -> PruneReport:
        return await prune(engine, apply=apply)

    report = with_engine(settings, body)
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    colours = {"pruned": "green", "would prune": "yellow", "kept": "dim"}
    for item in report.items:
        line = f"{item.asin}  {item.title}: {item.reason}"
        console.print(
            f"[{colours[item.action]}]{item.action:<12}[/] {shown(line)}", highlight=False
        )
    for asin in report.damaged:
        console.print(
            f"[red]{'damaged':<12}[/] {shown(asin)}: unreadable, not judged "
            f"(`mamfast state forget {shown(asin)}`)",
            highlight=False,
        )
    count = len(report.prunable)
    if not report.items:
        console.print("nothing to prune: every release's source folder is in the library")
    elif report.dry_run and count:
        console.print(f"{count} record(s) would be forgotten; run `mamfast state prune --apply`")
    elif not report.dry_run:
        console.print(f"forgot {count} record(s); no file was touched")
