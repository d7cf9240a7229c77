"""Worker heartbeats and the sweep that voids a dead worker's leases, against a real Redis."""

from __future__ import annotations

import asyncio

import pytest
from arq.jobs import Job, JobStatus

from mamfast.engine import keys, liveness, locks
from mamfast.engine.dispatch import submit
from mamfast.engine.liveness import Liveness
from mamfast.engine.reconcile import sweep_dead_workers
from mamfast.errors import FenceRejectedError
from mamfast.models import Release, Status
from tests.conftest import BOTH_REDIS
from tests.support.engine_stages import instrumented_pipeline

ASIN = "B0ALIVEAAA"
DEAD_AFTER = 0.4


async def sweep_for(redis, seconds: float) -> liveness.Sweep:  # type: ignore[no-untyped-def]
    """Sweep every 0.1 s (as the workers do, every second) and collect what was found."""
    found = liveness.Sweep()
    for _ in range(int(seconds / 0.1)):
        step = await liveness.sweep(redis, dead_after=DEAD_AFTER)
        found.dead += step.dead
        found.voided += step.voided
        await asyncio.sleep(0.1)
    return found


async def hold_release_lock(redis, owner: str, asin: str = ASIN) -> locks.Lease:  # type: ignore[no-untyped-def]
    lease = await locks.try_acquire(
        redis,
        keys.release_lock(asin),
        ttl=30,
        purpose="test",
        fence_key=keys.fence(asin),
        owner=owner,
    )
    assert lease is not None
    return lease


@BOTH_REDIS
async def test_a_dead_workers_release_lock_is_voided_and_its_commit_refused(make_services, redis):
    res = await make_services(instrumented_pipeline())
    stored = (await submit(res.engine, Release(asin=ASIN, source_dir="/library/a"))).release
    dead = Liveness(redis, [keys.DEFAULT_QUEUE])
    await dead.beat()
    lease = await hold_release_lock(redis, dead.id)
    assert await redis.hexists(keys.worker_leases(dead.id), lease.key)

    found = await sweep_for(redis, 1.0)  # the worker never beats again

    assert found.dead == [dead.id] and found.voided == [lease.key]
    assert not await redis.exists(lease.key)
    assert not await redis.exists(keys.worker_leases(dead.id))
    assert await liveness.workers(redis) == []
    # The paused holder wakes up: its token is older than the bumped fence.
    assert await res.engine.store.fence_value(ASIN) == lease.token + 1
    with pytest.raises(FenceRejectedError):
        await res.engine.store.commit(
            stored.model_copy(update={"status": Status.RUNNING}),
            token=lease.token,
            expected_run=stored.run,
        )
    assert not await locks.renew(redis, lease)


async def test_a_live_worker_keeps_its_leases(redis):
    alive = Liveness(redis, [keys.DEFAULT_QUEUE], every=0.1)
    lease = await hold_release_lock(redis, alive.id)
    beating = asyncio.create_task(alive.run())
    try:
        found = await sweep_for(redis, 1.0)
    finally:
        beating.cancel()
    assert found.dead == [] and found.voided == []
    assert await locks.renew(redis, lease)
    await locks.release(redis, lease)
    assert not await redis.exists(keys.worker_leases(alive.id))  # released: unregistered


async def test_a_lock_taken_over_since_is_not_voided(redis):
    dead = Liveness(redis, [keys.DEFAULT_QUEUE])
    await dead.beat()
    lease = await hold_release_lock(redis, dead.id)
    await redis.delete(lease.key)  # its lease ran out, and another worker took the lock
    newer = await hold_release_lock(redis, "another-worker")

    found = await sweep_for(redis, 1.0)

    assert found.dead == [dead.id] and found.voided == []
    assert await locks.renew(redis, newer)
    assert await redis.get(keys.fence(ASIN)) == str(newer.token).encode()


async def test_after_a_gap_in_sweeping_every_worker_gets_a_fresh_window(redis):
    """Redis down (or no sweeper) for a while: nobody could beat, so nobody is dead yet."""
    worker = Liveness(redis, [keys.HASH_QUEUE], every=0.1)
    await worker.beat()
    lease = await hold_release_lock(redis, worker.id)
    await liveness.sweep(redis, dead_after=DEAD_AFTER)
    await asyncio.sleep(DEAD_AFTER * 2)  # no sweep, no beat
    assert (await liveness.sweep(redis, dead_after=DEAD_AFTER)).dead == []
    beating = asyncio.create_task(worker.run())  # it is alive after all and beats again
    try:
        assert (await sweep_for(redis, 1.0)).dead == []
    finally:
        beating.cancel()
    assert await locks.renew(redis, lease)


async def test_the_sweep_redispatches_the_release_at_once(make_services, redis):
    res = await make_services(instrumented_pipeline())
    stored = (await submit(res.engine, Release(asin=ASIN, source_dir="/library/a"))).release
    old_job = stored.job_id
    await redis.set(f"arq:in-progress:{old_job}", b"1", ex=3600)  # claimed by the dead worker
    dead = Liveness(redis, [keys.DEFAULT_QUEUE])
    await dead.beat()
    await hold_release_lock(redis, dead.id)
    await liveness.sweep(redis)
    await redis.zadd(keys.ALIVE_BEATS, {dead.id: 0})  # its last beat, long ago

    assert await sweep_dead_workers(res.engine) == [ASIN]

    record = await res.engine.store.get(ASIN)
    assert record is not None and record.run == stored.run + 1
    assert record.status is Status.QUEUED
    queue = keys.DEFAULT_QUEUE
    assert await Job(record.job_id, redis, _queue_name=queue).status() is JobStatus.queued
    assert await Job(old_job, redis, _queue_name=queue).status() is JobStatus.not_found


async def test_workers_lists_what_a_dashboard_shows(redis):
    worker = Liveness(redis, [keys.DEFAULT_QUEUE, keys.HASH_QUEUE])
    worker.jobs.add("mamfast:B0ALIVEAAA:metadata:1")
    await worker.beat()
    await redis.hset(keys.ALIVE, "broken", "{not json")

    (listed,) = await liveness.workers(redis)

    assert listed.id == worker.id
    assert listed.queues == ["default", "hash"]
    assert listed.jobs == ["mamfast:B0ALIVEAAA:metadata:1"]
    assert listed.age < 5
    await worker.leave()
    await redis.hdel(keys.ALIVE, "broken")
    assert await liveness.workers(redis) == []
