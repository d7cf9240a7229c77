"""Child processes that never outlive the job that started them.

arq's timeouts and SIGTERM cancel the job's coroutine, not the programs it
started. An orphaned mediainfo or mkbrr would keep writing while the re-run
starts a second copy. `run_child` kills the child's whole process group and
waits for it on timeout and on cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from mamfast.errors import TransientError

KILL_GRACE = 3.0


@dataclass(frozen=True)
class ChildResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    def stderr_tail(self, limit: int = 400) -> str:
        text = self.stderr.decode(errors="replace").strip()
        return text[-limit:]


async def run_child(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    what: str | None = None,
) -> ChildResult:
    """Run `argv` to completion; raise TransientError on timeout (child killed)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,  # its own process group, so we can kill grandchildren too
    )
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await proc.communicate()
    except TimeoutError:
        await kill_tree(proc)
        raise TransientError(
            f"{what or argv[0]} did not finish within {timeout:.0f}s and was stopped"
        ) from None
    except BaseException:  # cancellation (SIGTERM, lost lease): no orphan left behind
        terminate_now(proc)  # synchronous: done even if the wait below is cut short
        await asyncio.shield(kill_tree(proc))
        raise
    return ChildResult(tuple(argv), proc.returncode or 0, stdout, stderr)


def terminate_now(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the child's process group without awaiting anything."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)


async def kill_tree(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the child's process group, SIGKILL after a grace period, then reap it."""
    if proc.returncode is not None:
        return
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), wait)
            return
        except TimeoutError:
            continue
