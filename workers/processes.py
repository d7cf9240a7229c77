"""Worker processes that `mamfast run` starts beside its own workers, and that die with it.

In-process workers share one event loop and so one core: a second worker per
queue in the same process only adds contention. With `--workers N` the run keeps
one worker per queue itself and starts N-1 processes serving one of each, all
attached to the run's Redis (the same private one: they get its URL).

A worker process must never outlive its run, even a SIGKILLed one: it asks the
kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG) and, for the moment
before that request, checks its parent is still the one that started it. A run
that ends normally sends SIGTERM (jobs are cancelled and go back to the queue,
as for `mamfast worker`) and waits; a process that does not stop in time is
killed. Leases taken by a killed process are voided by its liveness beat
running out, as for any dead worker.

Only on Linux (the kernel request); elsewhere the run keeps every worker in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from multiprocessing.process import BaseProcess

from mamfast.config import Settings

log = logging.getLogger("mamfast.worker")

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
STOP_TIMEOUT = 45.0  # serve() lets jobs finish for up to 10 s, then closes each worker


def supported() -> bool:
    return sys.platform.startswith("linux")


@contextlib.asynccontextmanager
async def worker_processes(
    settings: Settings, queues: Sequence[str], count: int
) -> AsyncIterator[None]:
    """Run `count` processes, each serving `queues`, for the duration of the block.

    `settings` must name the Redis to use (`redis_url` set), so every process
    attaches to the run's Redis rather than starting one of its own.
    """
    # spawn, not fork: the parent has an event loop, Redis sockets and threads.
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger().getEffectiveLevel()
    processes = [
        context.Process(
            target=child_main,
            args=(settings, list(queues), os.getpid(), level),
            name=f"mamfast worker {n + 1}",
            daemon=True,  # also ended by multiprocessing if the run exits through Python
        )
        for n in range(count)
    ]
    try:
        # Started from this (the main) thread on purpose: PR_SET_PDEATHSIG fires when
        # the thread that started the child ends, and a pool thread ends at will.
        for process in processes:
            process.start()
        yield
    finally:
        # Blocking on purpose: in-process work is over by now, and a cancelled run
        # must still not leave (or stop its Redis under) a worker process.
        _stop(processes)


def _stop(processes: Sequence[BaseProcess]) -> None:
    for process in processes:
        if process.pid is not None and process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        if process.pid is None:
            continue
        process.join(STOP_TIMEOUT)
        if process.is_alive():
            log.warning("worker process %s did not stop in time: killed", process.pid)
            process.kill()
            process.join()


def child_main(settings: Settings, queues: list[str], parent: int, level: int) -> None:
    """A worker process: die with `parent`, serve `queues` until SIGTERM or SIGINT."""
    die_with_parent(parent)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    from workers.serve import serve

    sys.exit(asyncio.run(serve(settings, queues)))


def die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    # The parent may have died before the request: then we were re-parented already.
    if os.getppid() != parent:
        os._exit(1)
