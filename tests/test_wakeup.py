"""Workers learn of a queued job from a wake-up message, not from their next poll.

The workers here poll once a minute, so a job that runs within the test's wait
was found through the `mamfast:wake:{queue}` message that `dispatch` publishes.
"""

from __future__ import annotations

import asyncio
import contextlib

from mamfast.engine import keys
from mamfast.engine.dispatch import submit
from mamfast.models import Release, Status
from tests.support.engine_stages import calls, instrumented_pipeline, plan
from tests.support.processes import wait_until
from workers.settings import build_worker, worker_options

SLOW_POLL = 60.0


def slow_workers(settings, stages, *, max_jobs: int | None = None):  # type: ignore[no-untyped-def]
    workers = []
    for queue in (keys.DEFAULT_QUEUE, keys.HASH_QUEUE):
        worker = build_worker(settings, queue, stages=stages, handle_signals=False)
        worker.idle_wait = SLOW_POLL
        if max_jobs is not None:
            worker.max_jobs = max_jobs
        workers.append(worker)
    return workers


@contextlib.asynccontextmanager
async def running(workers):  # type: ignore[no-untyped-def]
    tasks = [asyncio.create_task(w.async_run()) for w in workers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for worker in workers:
            await worker.close()


async def test_a_queued_job_wakes_the_worker_and_each_hop_follows_at_once(
    make_services, settings, redis
):
    res = await make_services(instrumented_pipeline())
    workers = slow_workers(settings, res.engine.stages)
    async with running(workers):
        await asyncio.sleep(0.5)  # past the first poll: now only a message can wake them
        await submit(res.engine, Release(asin="B0WAKEAAAA", source_dir="/library/a"))

        async def done() -> bool:
            record = await res.engine.store.get("B0WAKEAAAA")
            return record is not None and record.status is Status.READY

        # Four hops, two of them across queues; one minute's poll each without wake-ups.
        await wait_until(done, timeout=20, what="four hops through woken workers")


async def test_a_full_worker_takes_the_next_job_when_one_ends(make_services, settings, redis):
    res = await make_services(instrumented_pipeline())
    first, second = "B0WAKEFULA", "B0WAKEFULB"
    await redis.hset(plan(first, "stage"), "sleep", 1)
    workers = slow_workers(settings, res.engine.stages, max_jobs=1)
    async with running(workers):
        await asyncio.sleep(0.5)
        await submit(res.engine, Release(asin=first, source_dir="/library/a"))

        async def first_started() -> bool:
            return f"{first}:stage" in " ".join(await calls(res))

        await wait_until(first_started, timeout=20, what="the first job")
        # Announced while the only slot is taken: the message finds the worker full.
        await submit(res.engine, Release(asin=second, source_dir="/library/b"))

        async def both_done() -> bool:
            records = await res.engine.store.get_many([first, second])
            return len(records) == 2 and all(r.status is Status.READY for r in records)

        await wait_until(both_done, timeout=20, what="the job queued while the worker was full")


def test_the_poll_is_only_a_safety_net(settings):
    assert worker_options(settings, keys.DEFAULT_QUEUE)["poll_delay"] >= 1.0


async def test_a_worker_stops_when_cancelled_as_it_is_woken(make_services, settings, redis):
    """A wake-up and a cancellation in the same instant: the cancellation must win."""
    res = await make_services(instrumented_pipeline())
    (worker, _) = slow_workers(settings, res.engine.stages)
    task = asyncio.create_task(worker.async_run())
    try:
        await asyncio.sleep(1.0)  # started, first poll done: waiting for a wake-up
        assert worker.main_task is not None and not task.done()
        worker._woken.set()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
        assert done, "the worker went on polling after it was cancelled"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()
