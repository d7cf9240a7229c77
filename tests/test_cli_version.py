"""`mamfast --version`: the installed version, printed before the command tree is built."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

from tests.test_cli_startup import ENGINE_LIBRARIES, RUN_CLI, libraries, loaded_modules

RUN_ENTRY = "from mamfast.cli.entry import main; main()"


def test_version_loads_neither_the_command_tree_nor_the_engine(tmp_path):
    code, modules = loaded_modules(tmp_path, RUN_ENTRY, "--version")
    assert code == 0
    assert libraries(modules) & (ENGINE_LIBRARIES | {"typer", "rich", "pydantic"}) == set()
    assert "mamfast.cli.app" not in modules


def test_version_through_the_command_tree_loads_no_engine_library(tmp_path):
    """`mamfast --version` with other options (or an old console script) still works."""
    code, modules = loaded_modules(tmp_path, RUN_CLI, "--version")
    assert code == 0
    assert libraries(modules) & ENGINE_LIBRARIES == set()


def test_version_output(tmp_path):
    expected = f"mamfast {version('mamfast')}"
    for argv in (["-m", "mamfast", "--version"], ["-c", RUN_CLI, "--version"]):
        done = subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, cwd=tmp_path, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == expected


def test_other_commands_still_run_through_the_entry_point(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mamfast", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0 and "dry-run" in done.stdout
