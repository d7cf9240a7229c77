"""`mamfast check`: likely duplicates and suspicious cleaning results in the library."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mamfast.cli.common import console, fail, settings_or_exit, shown
from mamfast.errors import MamfastError

if TYPE_CHECKING:
    from mamfast.ops.check import CheckReport


def register(app: typer.Typer) -> None:
    app.command()(check)


def check(
    library: Annotated[
        Path | None, typer.Option(help="Libation library to check (default MAMFAST_LIBRARY_DIR).")
    ] = None,
    max_words: Annotated[
        int,
        typer.Option(min=1, help="List a cleaning result that removed more words than this."),
    ] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Likely duplicates (one ASIN twice, one book under two ASINs) and cleaning results
    worth a second look. Reads only; exits 1 when it lists anything."""
    from mamfast.ops.check import check_library
    from mamfast.release.rules import naming_rules

    settings = settings_or_exit(library_dir=library)
    folder = settings.library_dir
    if folder is None or not folder.is_dir():
        fail(f"no library to check at {folder}: pass --library PATH or set MAMFAST_LIBRARY_DIR")
    try:
        # The rules staging uses (MAMFAST_TITLE_CONVENTION applied), as `naming preview` does.
        report = check_library(settings, naming_rules(settings), max_words=max_words)
    except MamfastError as exc:
        fail(str(exc), code=2)
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        _show(report)
    raise typer.Exit(0 if report.clean else 1)


def _show(report: CheckReport) -> None:
    for dup in report.duplicates:
        label = "same ASIN twice" if dup.kind == "same-asin" else "same book"
        what = ", ".join(dup.asins) + (f"  {dup.title} ({dup.author})" if dup.title else "")
        console.print(f"[red]{label:<16}[/] {shown(what)}: {shown(dup.reason)}", highlight=False)
        for path in dup.paths:
            console.print(f"    {shown(path)}", highlight=False)
    for item in report.suspicious:
        console.print(
            f"[yellow]{'cleaning':<16}[/] {item.asin} {item.field}: “{shown(item.original)}” -> "
            f"“{shown(item.cleaned)}”",
            highlight=False,
        )
        console.print(f"    {shown('; '.join(item.reasons))}", highlight=False)
    console.print(
        f"{report.books} book(s) checked: {len(report.duplicates)} likely duplicate(s), "
        f"{len(report.suspicious)} cleaning result(s) to look at",
        markup=False,
    )
    if report.suspicious:
        console.print(
            "a rule that removes too much: override it in your own MAMFAST_NAMING_FILE "
            "(`preserve_exact` keeps a title as it is)",
            markup=False,
        )
