"""A Redis that does not answer, or is too old: one line saying what is wrong and what to do.

Every command runs as a user would run it (a `mamfast` process) with MAMFAST_REDIS_URL set
to a closed loopback port.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from mamfast.config import Settings
from mamfast.engine.connections import check_version, connect
from mamfast.errors import ConfigError
from mamfast.ops import doctor
from mamfast.ops.embedded import free_port
from tests.conftest import BOTH_REDIS
from tests.support.old_redis import old_redis
from tests.support.processes import ROOT, run_cli, start_cli

COMMANDS = [
    ["status"],
    ["status", "B0NOTTHERE", "--json"],
    ["retry", "--all-failed"],
    ["retry", "B0AAAAAAAA"],
    ["reset", "B0AAAAAAAA", "--stage", "metadata"],
    ["recover"],
    ["locks"],
    ["unlock", "mamfast:lock:scan", "--yes"],
    ["state", "export"],
    ["state", "import", "export.json"],
    ["enqueue"],
    ["cleanup"],
    ["scheduler"],
    ["run"],
]


def env_for(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMFAST_")}
    (tmp_path / "library").mkdir(exist_ok=True)
    env.update(
        PYTHONPATH=str(ROOT),
        MAMFAST_REDIS_URL=url,
        MAMFAST_DATA_DIR=str(tmp_path / "data"),
        MAMFAST_LIBRARY_DIR=str(tmp_path / "library"),
        MAMFAST_AUDNEX_URL="http://127.0.0.1:9",
    )
    return env


@pytest.mark.slow
def test_every_command_says_in_one_line_that_redis_cannot_be_reached(tmp_path):
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"  # nothing listens there
    (tmp_path / "export.json").write_text(json.dumps({"releases": []}))
    env = env_for(tmp_path, url)
    procs = [(args, start_cli(*args, env=env, cwd=tmp_path)) for args in COMMANDS]
    for args, proc in procs:
        out, err = proc.communicate(timeout=120)
        lines = [line for line in err.splitlines() if line.strip()]
        assert proc.returncode == 1, (args, out, err)
        assert len(lines) == 1, (args, err)
        assert lines[0].startswith("error: cannot reach Redis at redis://:***@127.0.0.1:"), args
        assert "Connection refused" in lines[0] and "MAMFAST_REDIS_URL" in lines[0], args
        assert "hunter2" not in out + err


def test_doctor_and_health_report_an_unreachable_redis(tmp_path):
    env = env_for(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    result = run_cli("doctor", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    redis_line = next(line for line in result.stdout.splitlines() if " redis: " in line)
    assert redis_line.startswith("FAIL redis: cannot reach Redis at"), result.stdout
    health = run_cli("health", env=env, cwd=tmp_path)
    assert (health.returncode, health.stdout, health.stderr) == (1, "", "")


@pytest.mark.slow
def test_a_worker_waits_for_an_unreachable_redis_saying_what_to_do(tmp_path):
    env = env_for(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    worker = start_cli("worker", env=env, cwd=tmp_path, stderr=subprocess.STDOUT)
    time.sleep(8)  # one round of connection attempts (5 retries a second apart) and more
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    assert "Traceback" not in out
    errors = [line for line in out.splitlines() if " ERROR " in line]
    assert errors, out
    assert "cannot reach Redis at redis://127.0.0.1:" in errors[0]
    assert "Connection refused" in errors[0] and "fix MAMFAST_REDIS_URL" in errors[0]
    assert "restarting workers in" in errors[0]


async def test_a_redis_older_than_6_2_is_refused_with_what_to_do(tmp_path):
    async with old_redis("6.0.16") as url:
        redis = await connect(url)
        try:
            with pytest.raises(ConfigError, match=r"Redis 6\.0\.16 .* needs Redis 6\.2 or newer"):
                await check_version(redis, url)
        finally:
            await redis.aclose()
        settings = Settings(_env_file=None, redis_url=SecretStr(url), data_dir=tmp_path)  # type: ignore[call-arg]
        check = await doctor.check_redis(settings)
        assert not check.ok and "6.2 or newer" in check.detail and "upgrade" in check.fix

        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mamfast",
            "worker",
            cwd=tmp_path,
            env=env_for(tmp_path, url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    text = err.decode()
    assert proc.returncode == 2, text
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"error: Redis 6.0.16 at {url} is too old: mamfast needs Redis 6.2")


@BOTH_REDIS
async def test_redis_6_2_and_7_are_accepted(redis, redis_server):
    assert await check_version(redis, redis_server.url)
