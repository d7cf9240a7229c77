"""`mamfast doctor`: check the setup, one line per check, each failure with its fix."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mamfast.cli.common import console, run_async, settings_or_exit, shown

MARKS = {
    "pass": "[green]PASS[/]",
    "fail": "[bold red]FAIL[/]",
    "warn": "[yellow]WARN[/]",
    "skip": "[dim]SKIP[/]",
}


def register(app: typer.Typer) -> None:
    app.command()(doctor)


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check Redis, folders, hardlinks, MediaInfo, mkbrr, the announce URL, qBittorrent
    (login and path mapping) and Audnex. Exits 1 when a check fails."""
    from mamfast.ops.doctor import run_checks

    settings = settings_or_exit()
    checks = run_async(run_checks(settings))
    if as_json:
        print(json.dumps([c.model_dump() for c in checks], indent=2))
    else:
        for check in checks:
            console.print(
                f"{MARKS[_level(check)]} {check.name}: {shown(check.detail)}", highlight=False
            )
            if check.fix and (check.warning or not check.ok):
                console.print(f"       fix: {shown(check.fix)}", highlight=False)
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)


def _level(check: object) -> str:
    from mamfast.ops.doctor import Check

    assert isinstance(check, Check)
    if check.skipped:
        return "skip"
    if check.warning:
        return "warn"
    return "pass" if check.ok else "fail"
