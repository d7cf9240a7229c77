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
    "mamfast.models",
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
    ours = {m for m in modules if m.split(".")[0] in ("mamfast", "workers")}
    # Only the command modules and the small modules their signatures need
    # (mamfast.models: `reset --stage` takes a Stage).
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
