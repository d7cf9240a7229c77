"""Start-up cost of the CLI: building the command tree must not load the engine.

Every `mamfast` process imports `mamfast.cli.app` first: `mamfast --help`,
`mamfast torrent create` and the container healthcheck (`mamfast health`,
every 15 s in each worker container). The command modules import the engine
(arq, Redis, aiohttp, qBittorrent, templates, settings) inside the commands
that use it. Timings are too noisy to assert on, so these tests check which
modules a fresh interpreter has loaded instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from mamfast.engine import keys
from mamfast.ops.embedded import RedisServer

# Libraries the CLI used to load at import; none is needed to build the command tree.
ENGINE_LIBRARIES = {
    "aiohttp",
    "yarl",
    "arq",
    "redis",
    "hiredis",
    "qbittorrentapi",
    "requests",
    "urllib3",
    "jinja2",
    "pykakasi",
    "pydantic_settings",
    "platformdirs",
}
# Loaded by the commands that validate settings or print through Rich, never by `--help`
# or by building the command tree (pydantic alone is ~50 ms, Rich ~30 ms).
HEAVY_FOR_HELP = {"pydantic", "pydantic_core", "rich"}
# Standard-library modules only the commands that run something need (~8 ms together):
# logging (long-running commands), socket (Redis, the host name), thread pools (hashing).
STDLIB_FOR_WORK = {"logging", "socket", "concurrent"}
# What `mamfast health` needs besides the command tree: settings and one Redis call.
HEALTH_NEEDS = {"redis", "hiredis", "pydantic_settings", "platformdirs"}

CLI_MODULES = {
    "mamfast",
    "mamfast.asin",
    "mamfast.cli",
    "mamfast.display",
    "mamfast.errors",
    "mamfast.engine",  # the package face only: it imports nothing
    "mamfast.engine.keys",
    "mamfast.lifecycle",
}

# Runs first in the child: record sys.modules at exit (after Typer's SystemExit too).
RECORD = """
import atexit, json, sys
_record_to = sys.argv.pop(1)
def _record():
    with open(_record_to, "w") as f:
        json.dump(sorted(sys.modules), f)
atexit.register(_record)
"""
RUN_CLI = "from mamfast.cli.app import main; main()"


def loaded_modules(
    tmp_path: Path, code: str, *args: str, env: dict[str, str] | None = None
) -> tuple[int, set[str]]:
    record = tmp_path / f"modules-{uuid.uuid4().hex}.json"
    result = subprocess.run(
        [sys.executable, "-c", RECORD + code, str(record), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MAMFAST_DATA_DIR": str(tmp_path / "data"), **(env or {})},
        cwd=tmp_path,
        timeout=60,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, set(json.loads(record.read_text()))


def libraries(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_importing_the_cli_loads_no_engine_library(tmp_path):
    code, modules = loaded_modules(tmp_path, "import mamfast.cli.app")
    assert code == 0
    assert libraries(modules) & ENGINE_LIBRARIES == set()
    assert libraries(modules) & HEAVY_FOR_HELP == set()
    ours = {m for m in modules if m.split(".")[0] in ("mamfast", "workers")}
    # Only the command modules and the small modules their signatures need
    # (mamfast.lifecycle: `reset --stage` takes a Stage).
    assert {m for m in ours if not m.startswith("mamfast.cli.")} <= CLI_MODULES


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["health", "--help"],
        ["torrent", "create", "--help"],
        ["reset", "--help"],
        ["web", "--help"],
    ],
)
def test_help_loads_no_engine_library(tmp_path, argv):
    code, modules = loaded_modules(tmp_path, RUN_CLI, *argv)
    assert code == 0
    assert libraries(modules) & ENGINE_LIBRARIES == set()
    assert libraries(modules) & HEAVY_FOR_HELP == set()
    assert libraries(modules) & STDLIB_FOR_WORK == set()


def test_help_is_plain_text(tmp_path):
    """No Rich panels or colour codes: plain Click help, readable in any terminal or pipe."""
    result = subprocess.run(
        [sys.executable, "-m", "mamfast", "torrent", "create", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "MAMFAST_DATA_DIR": str(tmp_path / "data"), "FORCE_COLOR": "1"},
        timeout=60,
    )
    assert result.returncode == 0
    assert "Usage:" in result.stdout and "--piece-length" in result.stdout
    assert "\x1b[" not in result.stdout and "╭" not in result.stdout


def test_torrent_create_needs_no_engine_library(tmp_path):
    """`torrent create` loads settings and the torrent code: no Redis, and with `--json`
    (plain JSON, like every other command's) no Rich; a data folder set in the
    environment needs no platform lookup (platformdirs)."""
    book = tmp_path / "Tiny Book"
    book.mkdir()
    (book / "Tiny Book.m4b").write_bytes(os.urandom(4096))
    out = tmp_path / "tiny.torrent"
    code, modules = loaded_modules(
        tmp_path,
        RUN_CLI,
        *("torrent", "create", str(book), "-o", str(out), "--json"),
        env={"MAMFAST_ANNOUNCE_URL": "http://127.0.0.1:9/announce/0123456789abcdef"},
    )
    assert code == 0 and out.stat().st_size > 0
    assert libraries(modules) & ENGINE_LIBRARIES == {"pydantic_settings"}
    assert "rich" not in libraries(modules)
    assert "mamfast.models" not in modules and "mamfast.engine.keys" in modules
    printed = subprocess.run(
        [sys.executable, "-m", "mamfast", "torrent", "inspect", str(out), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "MAMFAST_DATA_DIR": str(tmp_path / "data")},
        timeout=60,
    )
    assert printed.returncode == 0
    assert json.loads(printed.stdout)["name"] == "Tiny Book"


def test_health_needs_only_settings_and_redis(tmp_path, redis_server: RedisServer):
    """The healthcheck's real path: exit 0 with a live worker of the queue, 1 without."""
    host = f"startup-test-{uuid.uuid4().hex[:8]}"
    env = {"MAMFAST_REDIS_URL": redis_server.url, "HOSTNAME": host}
    client = redis.Redis.from_url(redis_server.url)
    key = keys.worker(host, 1234, keys.DEFAULT_QUEUE)
    client.set(key, "1", ex=60)
    try:
        code, modules = loaded_modules(tmp_path, RUN_CLI, "health", "--queue", "default", env=env)
        assert code == 0
        assert libraries(modules) & ENGINE_LIBRARIES <= HEALTH_NEEDS
        assert (
            "mamfast.engine.resources" not in modules
            and "mamfast.engine.connections" not in modules
        )
        code, _ = loaded_modules(tmp_path, RUN_CLI, "health", "--queue", "hash", env=env)
        assert code == 1
    finally:
        client.delete(key)
        client.close()


def test_health_with_redis_down_is_a_quiet_exit_1(tmp_path):
    import subprocess
    import sys

    env = {
        "PATH": "/usr/bin:/bin",
        "MAMFAST_REDIS_URL": "redis://127.0.0.1:9/0",
        "MAMFAST_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "mamfast", "health"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr


def test_the_console_made_on_first_use_drives_rich_live_views():
    """Live and Progress enter the console (`with console:`) and redraw through it."""
    import io

    from rich.live import Live
    from rich.progress import Progress
    from rich.text import Text

    from mamfast.cli.common import _ConsoleOnFirstUse, rich_console

    out = io.StringIO()
    lazy = _ConsoleOnFirstUse(file=out, force_terminal=True, emoji=False, width=60)
    console = rich_console(lazy)  # type: ignore[arg-type]
    with Live(console=console, refresh_per_second=20) as live:
        live.update(Text("hashing Some Book"))
    with Progress(console=console) as bar:
        bar.update(bar.add_task("verifying", total=4), completed=4)
    with lazy:  # the proxy itself, as Rich code given it would use it
        lazy.print("done")
    text = out.getvalue()
    assert "hashing Some Book" in text and "verifying" in text and "done" in text
