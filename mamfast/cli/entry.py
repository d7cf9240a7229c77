"""The `mamfast` program's entry point: `--version` answered before the command tree loads.

Building the command tree imports Typer, Rich, pydantic and every command module; a
version check (scripts, bug reports, container probes) needs none of that.
"""

from __future__ import annotations

import sys


def installed_version() -> str:
    """The installed distribution's version (the one pip knows); the package's own
    for a source tree run without installing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mamfast")
    except PackageNotFoundError:
        from mamfast import __version__

        return __version__


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(f"mamfast {installed_version()}")
        return
    from mamfast.cli.app import main as run_app

    run_app()
