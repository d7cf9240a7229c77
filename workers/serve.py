"""Run one or more arq workers in this process, and keep them running.

arq's worker exits on any Redis outage (arq#498), even with retry settings.
Instead of relying only on a container restart policy, `serve` restarts the
workers in-process with backoff until Redis answers again. SIGTERM/SIGINT
are forwarded to every worker: running jobs are cancelled (their child
processes killed by the stages) and go straight back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from arq.worker import Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mamfast.config import Settings
from mamfast.engine.connections import unreachable
from mamfast.ops.embedded import redis_url_for
from workers.settings import build_worker

log = logging.getLogger("mamfast.worker")

StopWhen = Callable[[], Awaitable[bool]]
MAX_RESTART_DELAY = 30.0


async def serve(
    settings: Settings,
    queues: Sequence[str],
    *,
    burst: bool = False,
    stages: Any = None,
    stop_when: StopWhen | None = None,
    check_every: float = 1.0,
) -> int:
    """Serve `queues` until a signal, burst completion, or `stop_when()` is true."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    workers: list[Worker] = []

    def on_signal(sig: signal.Signals) -> None:
        log.info("%s received: cancelling running jobs, they return to the queue", sig.name)
        stopping.set()
        for worker in workers:
            worker.handle_sig(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig)
    delay = 1.0
    try:
        while not stopping.is_set():
            workers[:] = [
                build_worker(settings, q, burst=burst, stages=stages, handle_signals=False)
                for q in queues
            ]
            try:
                finished = await _run_until(workers, stopping, stop_when, check_every)
                if finished:
                    return 0
                delay = 1.0
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                url = redis_url_for(settings)
                log.error("%s; restarting workers in %.0fs", unreachable(url, exc), delay)
            except RedisError as exc:
                log.error("Redis error (%s); restarting workers in %.0fs", exc, delay)
            finally:
                # Cancelled jobs are still writing "back to the queue"; close() would
                # cancel them a second time, mid-way.
                await _let_jobs_finish(workers, timeout=10)
                await _close_all(workers)
            if not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
                delay = min(MAX_RESTART_DELAY, delay * 2)
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(RuntimeError):
                loop.remove_signal_handler(sig)


async def _run_until(
    workers: Sequence[Worker],
    stopping: asyncio.Event,
    stop_when: StopWhen | None,
    check_every: float,
) -> bool:
    """True when the run is over (burst done, stop_when, signal); raises on Redis loss."""
    tasks = [asyncio.create_task(w.async_run(), name=f"arq {w.queue_name}") for w in workers]
    watcher = asyncio.create_task(_watch(stop_when, stopping, check_every))
    try:
        while True:
            done, _ = await asyncio.wait([*tasks, watcher], return_when=asyncio.FIRST_COMPLETED)
            if watcher in done:
                await _let_jobs_finish(workers)
                return True
            for task in done:
                if task.cancelled():
                    continue  # a signal stopped this worker
                exc = task.exception()
                if exc is not None:
                    raise exc
            if all(t.done() for t in tasks):
                return True  # burst workers finished, or all stopped by a signal
    finally:
        watcher.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(watcher, *tasks, return_exceptions=True)


async def _watch(stop_when: StopWhen | None, stopping: asyncio.Event, every: float) -> None:
    while not stopping.is_set():
        if stop_when is not None:
            with contextlib.suppress(RedisError, OSError):
                if await stop_when():
                    return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), every)


async def _let_jobs_finish(workers: Sequence[Worker], timeout: float = 30.0) -> None:
    """Nothing is left to do: let jobs that are writing their last bookkeeping finish."""
    running = [t for w in workers for t in w.tasks.values() if not t.done()]
    if running:
        await asyncio.wait(running, timeout=timeout)


async def _close_all(workers: Sequence[Worker]) -> None:
    for worker in workers:
        try:
            await asyncio.wait_for(worker.close(), 30)
        except asyncio.CancelledError:
            # close() re-raises the cancellation of the jobs it stops; only ours matters.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
        except Exception as exc:  # closing against a dead Redis fails; nothing to save
            log.debug("closing %s: %s", worker.queue_name, exc)
