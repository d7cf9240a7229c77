"""`mamfast run` (the one command) and `mamfast demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mamfast.cli import render
from mamfast.cli.common import console, fail, run_async, settings_or_exit, setup_logging, shown


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(demo)


def run(
    library: Annotated[
        Path | None, typer.Option(help="Libation library to scan (default MAMFAST_LIBRARY_DIR).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=32, help="Workers per queue (beyond the first: in worker processes)."
        ),
    ] = 1,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Only show what would be done (`mamfast dry-run`)."),
    ] = False,
    no_libation: Annotated[
        bool,
        typer.Option("--no-libation", help="Do not run MAMFAST_LIBATION_COMMAND before the scan."),
    ] = False,
) -> None:
    """Scan the library and process every release to the end, here and now.

    Without MAMFAST_REDIS_URL a private Redis runs under the data dir for the
    duration of the run. Exits 0 only when no release needs attention.
    """
    from mamfast.cli.live import live_view
    from mamfast.ops.runner import run as run_pipeline
    from mamfast.stages import default_pipeline
    from workers import processes
    from workers.serve import serve

    settings = settings_or_exit(library_dir=library)
    if settings.library_dir is None:
        fail("no library to scan: pass --library PATH or set MAMFAST_LIBRARY_DIR", code=2)
    if dry_run:
        from mamfast.cli.dryrun_cmds import show_plan

        show_plan(settings)
        return
    setup_logging("WARNING" if console.is_terminal else settings.log_level)
    if settings.libation_command.strip() and not no_libation:
        # It may download for a long while before the live view has anything to show.
        console.print(
            f"running MAMFAST_LIBATION_COMMAND first (up to {settings.libation_timeout:g}s)",
            markup=False,
        )
    result = run_async(
        run_pipeline(
            settings,
            stages=default_pipeline(settings),
            serve=serve,
            workers=workers,
            # No view off a terminal: the run then reads no records while it works.
            live=live_view(console) if console.is_terminal else None,  # type: ignore[arg-type]
            run_libation=not no_libation,
            processes=processes.worker_processes if processes.supported() else None,
        )
    )
    if result.libation is not None:
        colour = "green" if result.libation.ok else "yellow"
        console.print(f"[{colour}]libation:[/] {shown(result.libation.message)}", highlight=False)
    render.enqueue_report(console, result.scan)
    render.release_table(console, result.releases)
    for r in result.releases:
        if r.json_path:
            console.print(
                f"[green]{r.asin}[/] upload files: {shown(str(Path(r.json_path).parent))}",
                highlight=False,
            )
    raise typer.Exit(result.exit_code)


def demo(
    directory: Annotated[Path, typer.Argument(help="Where to write the sample library.")] = Path(
        "demo-library"
    ),
) -> None:
    """Write a small Libation-shaped sample library (one folder is broken on purpose)."""
    from mamfast.ops.demo import write_demo_library

    folders = write_demo_library(directory)
    console.print(f"wrote {len(folders)} book folders under {directory}:", markup=False)
    for folder in folders:
        console.print(f"  {folder.relative_to(directory)}", highlight=False, markup=False)
    console.print(f"\nnext: mamfast run --library {directory}", markup=False)
