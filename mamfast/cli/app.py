"""`mamfast`: the root command; each group lives in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from mamfast.cli import (
    check_cmds,
    cleanup_cmds,
    config_cmds,
    doctor_cmds,
    dryrun_cmds,
    metadata_cmds,
    naming_cmds,
    notify_cmds,
    pipeline_cmds,
    run_cmds,
    torrent_cmds,
    web_cmds,
)

app = typer.Typer(
    name="mamfast",
    help="Prepare Libation audiobooks for MyAnonaMouse: stage, describe, hash, seed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain Click help: Rich panels cost a Rich import on every `--help`.
    rich_markup_mode=None,
)
# Command groups register themselves here, one line each.
pipeline_cmds.register(app)
run_cmds.register(app)
notify_cmds.register(app)
cleanup_cmds.register(app)
naming_cmds.register(app)
metadata_cmds.register(app)
torrent_cmds.register(app)
doctor_cmds.register(app)
config_cmds.register(app)
dryrun_cmds.register(app)
check_cmds.register(app)
web_cmds.register(app)


def _print_version(value: bool) -> None:
    if value:  # `mamfast --version` alone never gets here (cli.entry answers it first)
        from mamfast.cli.entry import installed_version

        print(f"mamfast {installed_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print mamfast's version and exit.",
        ),
    ] = False,
) -> None:
    """Prepare Libation audiobooks for MyAnonaMouse: stage, describe, hash, seed."""


def main() -> None:
    app()
