"""`mamfast --version`: the installed version, printed without loading the engine."""

from __future__ import annotations

from importlib.metadata import version

from tests.test_cli_startup import ENGINE_LIBRARIES, RUN_CLI, libraries, loaded_modules


def test_version_prints_the_installed_version_and_loads_no_engine_library(tmp_path):
    code, modules = loaded_modules(tmp_path, RUN_CLI, "--version")
    assert code == 0
    assert libraries(modules) & ENGINE_LIBRARIES == set()
    assert "mamfast.config" not in modules


def test_version_output(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mamfast", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"mamfast {version('mamfast')}"
