"""An arq worker woken by a message the moment a job is queued, instead of polling fast.

arq finds new jobs by polling its queue every `poll_delay`: a short delay makes every
stage hop fast and costs Redis commands all day long, idle or not; a long one makes
each hop wait. `engine.dispatch` publishes on `mamfast:wake:{queue}` after each
enqueue, and `WakingWorker` listens there: a message ends the wait at once. The
poll stays as the safety net (a lost message, a deferred retry coming due, a job
queued by an older producer), so it can be slow: `POLL_DELAY` in `workers.settings`.

A worker whose every slot was busy also polls as soon as one of its jobs ends, since
the job that would fill the slot may have been announced while it was full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from arq.worker import Worker
from redis.exceptions import RedisError

from mamfast.engine import keys

log = logging.getLogger("mamfast.worker")

RESUBSCRIBE_DELAY = 1.0


class WakingWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._woken = asyncio.Event()
        # arq's loop sleeps poll_delay_s between iterations; ours waits in the iteration
        # instead, where a wake-up can end it. Burst mode keeps arq's own loop.
        self.idle_wait = self.poll_delay_s
        if not self.burst:
            self.poll_delay_s = 0.0
        self._listener: asyncio.Task[None] | None = None

    async def main(self) -> None:
        try:
            await super().main()
        finally:
            if self._listener is not None:
                self._listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._listener
                self._listener = None

    async def _poll_iteration(self) -> None:
        if self._listener is None:  # the first iteration: arq's main() has opened the pool
            self._listener = asyncio.create_task(self._listen(), name=f"wake {self.queue_name}")
        self._woken.clear()  # a message from here on means: look again
        await super()._poll_iteration()
        if not self.burst:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation
            # that arrives as the event is set, and the worker would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.idle_wait):
                    await self._woken.wait()

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        finally:
            if self.job_counter >= self.max_jobs:  # this job still counts until it returns
                self._woken.set()

    async def _listen(self) -> None:
        """Set `_woken` on every message; on a Redis error, subscribe again (polls go on)."""
        channel = keys.wake(self.queue_name)
        while True:
            pubsub = self.pool.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                self._woken.set()  # anything queued while we were not listening
                async for _ in pubsub.listen():
                    self._woken.set()
            except (RedisError, OSError) as exc:
                log.debug("wake-up channel %s: %s; subscribing again", channel, exc)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RESUBSCRIBE_DELAY)
