"""Worker subprocesses for crash tests, and polling helpers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from mamfast.config import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that reproduces `settings` in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMFAST_")}
    for field, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        if hasattr(getattr(settings, field), "get_secret_value"):
            value = getattr(settings, field).get_secret_value()
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        env[env_name(field)] = str(value)
    env["PYTHONPATH"] = str(ROOT)
    return env


def spawn_worker(settings: Settings, *queues: str, log: Path) -> subprocess.Popen[bytes]:
    """A worker running the instrumented stages (tests.support.worker_main)."""
    argv = ["-m", "tests.support.worker_main", *(queues or ("default", "hash"))]
    return spawn(settings, argv, log=log)


def spawn(
    settings: Settings, argv: list[str], *, log: Path, wrapper: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """`python ARGV...` in its own session, with `settings` as its environment.

    `wrapper`: a command that runs the interpreter (e.g. `setpriv ... --`).
    """
    out = log.open("ab")
    proc = subprocess.Popen(
        [*wrapper, sys.executable, *argv],
        env=settings_env(settings),
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()
    return proc


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`mamfast ARGS...` as a user runs it: its own process, text output captured."""
    return subprocess.run(
        [sys.executable, "-m", "mamfast", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(*args: str, env: dict[str, str], cwd: Path, **popen: Any) -> subprocess.Popen[str]:
    """`mamfast ARGS...` in the background (a worker, commands run at once)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, "-m", "mamfast", *args], cwd=cwd, env=env, text=True, **popen
    )


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout: float, what: str, every: float = 0.1
) -> float:
    """Poll until `check()` is true; returns the seconds waited. Redis errors count as 'not yet'."""
    start = time.monotonic()
    while True:
        try:
            if await check():
                return time.monotonic() - start
        except (ConnectionError, OSError, Exception) as exc:  # Redis may be restarting
            if not _is_redis_error(exc):
                raise
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(every)


def _is_redis_error(exc: BaseException) -> bool:
    from redis.exceptions import RedisError

    return isinstance(exc, (RedisError, ConnectionError, OSError))


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def servers_of(home: Path) -> list[int]:
    """Live redis-server processes whose working directory is `home` (Redis chdirs to it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"redis" in (entry / "cmdline").read_bytes() and (
                (entry / "cwd").readlink() == home.resolve()
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if alive(pid)]


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
