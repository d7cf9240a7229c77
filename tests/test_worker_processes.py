"""`mamfast run --workers 2`: the second worker per queue runs in a worker process that
attaches to the run's private Redis and never outlives the run, even a SIGKILLed one.

Real processes throughout: the `mamfast` command, its private Redis, its worker
processes (found through /proc by the data dir in their environment).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.support.library import tiny_books
from tests.support.processes import alive, run_cli, settings_env, start_cli

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "mamfast" / "data" / "demo"

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="Linux only")


def worker_processes(data_dir: Path) -> list[int]:
    """Live multiprocessing children started for `data_dir` (its path is in their environment)."""
    marker = f"MAMFAST_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"multiprocessing" in cmdline and marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if alive(pid)]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    settings = make_settings(tmp_path, "")
    environment = settings_env(settings.model_copy(update={"redis_url": None}))
    environment.pop("MAMFAST_REDIS_URL", None)  # the run's own private Redis
    return environment


def test_two_workers_per_queue_finish_every_release_and_leave_no_process(tmp_path, env):
    tiny_books(tmp_path / "library", 12, prefix="B0PROC")
    result = run_cli("run", "--workers", "2", env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    status = run_cli("status", "--json", env=env, cwd=tmp_path)
    records = json.loads(status.stdout)
    assert len(records) == 12
    assert {r["status"] for r in records} == {
        "ready"
    }  # no qBittorrent configured: ready for upload
    assert worker_processes(tmp_path / "data") == []


def test_worker_processes_die_with_a_sigkilled_run_and_the_next_run_finishes(tmp_path, env):
    tiny_books(tmp_path / "library", 60, prefix="B0PROC")
    data = tmp_path / "data"
    run = start_cli("run", "--workers", "2", env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not worker_processes(data):
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "no worker process started"
            time.sleep(0.05)
        time.sleep(1.0)  # mid-way: the processes have taken jobs
        run.send_signal(signal.SIGKILL)
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    deadline = time.monotonic() + 10
    while worker_processes(data):
        assert time.monotonic() < deadline, f"outlived the run: {worker_processes(data)}"
        time.sleep(0.05)
    # Nothing was lost: the next run (liveness voids the dead workers' leases) ends them all.
    result = run_cli("run", "--workers", "2", env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    records = json.loads(run_cli("status", "--json", env=env, cwd=tmp_path).stdout)
    assert len(records) == 60
    assert {r["status"] for r in records} == {
        "ready"
    }  # no qBittorrent configured: ready for upload
    assert worker_processes(data) == []
