"""`mamfast`: the root command; each group lives in its own module."""

from __future__ import annotations

import typer

from mamfast.cli import (
    cleanup_cmds,
    doctor_cmds,
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
web_cmds.register(app)


def main() -> None:
    app()
