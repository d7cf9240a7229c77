"""`mamfast config import`: the old tool's config.yaml and .env as a mamfast `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mamfast.cli.common import console, fail, shown
from mamfast.errors import MamfastError


def register(app: typer.Typer) -> None:
    config = typer.Typer(help="Settings taken over from the tool mamfast replaces.")
    config.command(name="import")(config_import)
    app.add_typer(config, name="config", no_args_is_help=True)


def config_import(
    config_yaml: Annotated[
        Path, typer.Argument(help="The old tool's config.yaml (usually config/config.yaml).")
    ],
    env: Annotated[
        Path | None,
        typer.Option("--env", help="The old tool's .env (default: the .env beside config.yaml)."),
    ] = None,
    presets: Annotated[
        Path | None,
        typer.Option(
            "--presets",
            help="mkbrr's presets.yaml, for the announce URL (default: the one in "
            "mkbrr.host_config_dir).",
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The mamfast settings file to write.")
    ] = Path(".env"),
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Write the MAMFAST_* settings equivalent to the old tool's config.yaml and .env.

    Lists what could not be carried over and every default that differs. The file holds
    the qBittorrent password and the announce URL: only you can read it."""
    from mamfast.ops import configimport

    try:
        env_file = env or configimport.default_env_path(config_yaml)
        result = configimport.import_config(config_yaml, env_file=env_file, presets_file=presets)
        sources = [p for p in (config_yaml, env_file, presets) if p is not None]
        configimport.write_env_file(output, result.env_text(sources), force=force)
    except MamfastError as exc:
        fail(str(exc), code=2)
    except OSError as exc:
        fail(f"cannot write {output}: {exc}")
    console.print(f"wrote {len(result.settings)} setting(s) to {shown(output)}:", highlight=False)
    for line in result.shown_settings():
        console.print(f"  {shown(line)}", highlight=False)
    _section("not carried over", result.not_carried)
    _section("defaults that differ from the old tool", result.differing_defaults)
    _section("notes", result.notes)
    problem = configimport.load_problem(output)
    if problem:
        # Written all the same: the fix is an edit of that file, not another import.
        fail(f"{output} was written, but mamfast cannot load it yet: {problem}; edit it")
    console.print(f"next: `mamfast doctor` (with {shown(output)} as .env in this folder)")


def _section(title: str, lines: list[str]) -> None:
    if not lines:
        return
    console.print(f"[bold]{title}:[/]")
    for line in lines:
        console.print(f"  - {shown(line)}", highlight=False)
