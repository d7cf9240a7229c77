"""Leases (mamfast.engine.locks) against a real Redis: TTL, renewal, fencing, loss."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from mamfast.engine import keys, locks
from mamfast.engine.connections import connect
from mamfast.errors import LockBusyError
from mamfast.ops.embedded import RedisServer, free_port

ASIN = "B0LOCKTEST"
KEY = keys.release_lock(ASIN)
FENCE = keys.fence(ASIN)


async def eventually(condition, what: str, limit: float = 15.0) -> None:
    """Poll `condition()` until true; the limit only stops a hung test, it measures nothing."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await condition():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)


async def test_each_acquisition_takes_the_next_fencing_token(redis):
    first = await locks.try_acquire(redis, KEY, ttl=5, purpose="stage", fence_key=FENCE)
    assert first is not None and first.token == 1
    assert await locks.try_acquire(redis, KEY, ttl=5, purpose="other", fence_key=FENCE) is None
    # A refused try hands out no token: the counter moves only with a lease.
    assert int(await redis.get(FENCE)) == 1

    await locks.release(redis, first)
    second = await locks.try_acquire(redis, KEY, ttl=5, purpose="stage", fence_key=FENCE)
    assert second is not None and second.token == 2
    assert second.value != first.value
    assert int(await redis.get(FENCE)) == 2


async def test_a_lock_without_a_fence_has_token_zero_and_no_counter(redis):
    lease = await locks.try_acquire(redis, keys.SCAN_LOCK, ttl=5, purpose="scan")
    assert lease is not None and lease.token == 0
    assert await redis.keys(keys.PREFIX + "fence:*") == []
    assert (await locks.read_holder(redis, keys.SCAN_LOCK))["token"] == 0


async def test_the_lock_carries_its_ttl_and_its_holder(redis):
    lease = await locks.try_acquire(redis, KEY, ttl=4, purpose="metadata", fence_key=FENCE)
    assert lease is not None
    assert 0 < await redis.pttl(KEY) <= 4000
    holder = await locks.read_holder(redis, KEY)
    assert holder["purpose"] == "metadata"
    assert holder["pid"] == os.getpid()
    assert holder["host"] == keys.hostname()
    assert holder["token"] == 1


async def test_busy_names_the_holder(redis):
    await locks.try_acquire(redis, KEY, ttl=5, purpose="torrent", fence_key=FENCE)
    with pytest.raises(LockBusyError) as info:
        await locks.acquire(redis, KEY, ttl=5, purpose="upload", fence_key=FENCE)
    assert info.value.holder["purpose"] == "torrent"
    assert "torrent on host" in str(info.value) and f"pid {os.getpid()}" in str(info.value)
    assert int(await redis.get(FENCE)) == 1


async def test_acquire_with_wait_gets_the_lock_once_it_is_released(redis):
    holder = await locks.try_acquire(redis, KEY, ttl=5, purpose="first", fence_key=FENCE)
    assert holder is not None
    waiter = asyncio.create_task(
        locks.acquire(redis, KEY, ttl=5, purpose="second", fence_key=FENCE, wait=30)
    )
    await asyncio.sleep(0.3)  # the waiter has polled and found it busy
    assert not waiter.done()
    await locks.release(redis, holder)
    lease = await asyncio.wait_for(waiter, 15)
    assert lease.token == 2
    assert (await locks.read_holder(redis, KEY))["purpose"] == "second"


async def test_only_the_holder_can_release_or_renew(redis):
    old = await locks.try_acquire(redis, KEY, ttl=5, purpose="paused", fence_key=FENCE)
    assert old is not None
    await redis.delete(KEY)  # its lease ran out while it was paused
    new = await locks.try_acquire(redis, KEY, ttl=5, purpose="new", fence_key=FENCE)
    assert new is not None and new.token == 2

    assert not await locks.renew(redis, old)
    await locks.release(redis, old)  # the old holder cleaning up must not free the new lease
    assert await redis.get(KEY) == new.value.encode()
    assert await locks.renew(redis, new)
    await locks.release(redis, new)
    assert await redis.exists(KEY) == 0


async def test_renewal_keeps_a_short_lease_alive_past_its_ttl(redis):
    async with locks.held(redis, KEY, ttl=1.5, purpose="long", fence_key=FENCE) as lease:
        await asyncio.sleep(3.5)  # over two TTLs: only renewal (every TTL/3) keeps the key
        assert await redis.get(KEY) == lease.value.encode()
        assert not lease.lost.is_set()
    assert await redis.exists(KEY) == 0  # released on exit


async def test_guarded_returns_the_work_result_and_passes_its_errors(redis):
    async def work(value: int) -> int:
        await asyncio.sleep(0)
        return value * 2

    async def broken() -> None:
        raise ValueError("bad input")

    async with locks.held(redis, KEY, ttl=5, purpose="stage") as lease:
        assert await locks.guarded(lease, work(21)) == 42
        with pytest.raises(ValueError, match="bad input"):
            await locks.guarded(lease, broken())


async def test_a_lost_lease_cancels_the_guarded_work(redis):
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def work() -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "finished"

    async with locks.held(redis, KEY, ttl=0.6, purpose="slow", fence_key=FENCE) as lease:
        guarded = asyncio.create_task(locks.guarded(lease, work()))
        await asyncio.wait_for(started.wait(), 15)
        # Another worker takes the release over (the lease expired under a pause).
        await locks.break_lock(redis, KEY)
        other = await locks.try_acquire(redis, KEY, ttl=30, purpose="other", fence_key=FENCE)
        assert other is not None and other.token == 2
        with pytest.raises(locks.LeaseLostError, match="lost"):
            await asyncio.wait_for(guarded, 15)
        assert cancelled.is_set()
        assert lease.lost.is_set()
    # Leaving the block released nothing of the new holder's.
    assert await redis.get(KEY) == other.value.encode()


async def test_guarded_work_is_cancelled_with_its_caller(redis):
    cancelled = asyncio.Event()
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    async with locks.held(redis, KEY, ttl=5, purpose="stage") as lease:
        caller = asyncio.create_task(locks.guarded(lease, work()))
        await asyncio.wait_for(started.wait(), 15)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert cancelled.is_set()
        assert not lease.lost.is_set()


async def test_held_if_free_skips_when_busy_and_holds_otherwise(redis):
    other = await locks.try_acquire(redis, keys.RECONCILE_LOCK, ttl=5, purpose="other pass")
    assert other is not None
    async with locks.held_if_free(redis, keys.RECONCILE_LOCK, ttl=5, purpose="pass") as lease:
        assert lease is None
    assert await redis.get(keys.RECONCILE_LOCK) == other.value.encode()  # untouched

    await locks.release(redis, other)
    async with locks.held_if_free(redis, keys.RECONCILE_LOCK, ttl=5, purpose="pass") as lease:
        assert lease is not None
        assert (await locks.read_holder(redis, keys.RECONCILE_LOCK))["purpose"] == "pass"
    assert await redis.exists(keys.RECONCILE_LOCK) == 0


async def test_a_purpose_with_the_separator_still_reads_back(redis):
    lease = await locks.try_acquire(redis, KEY, ttl=5, purpose="a|b|c", fence_key=FENCE)
    assert lease is not None
    holder = await locks.read_holder(redis, KEY)
    assert holder["purpose"] == "a|b|c" and holder["token"] == 1


async def test_list_and_break_locks(redis):
    await locks.try_acquire(redis, KEY, ttl=30, purpose="stage", fence_key=FENCE)
    await locks.try_acquire(redis, keys.SCAN_LOCK, ttl=30, purpose="scan")
    await redis.set(keys.NOTIFY_LOCK, "not ours at all")  # no TTL, no holder JSON
    await redis.set(keys.release(ASIN), "a record, not a lock")

    held = {h["key"]: h for h in await locks.list_locks(redis)}
    assert list(held) == sorted([KEY, keys.SCAN_LOCK, keys.NOTIFY_LOCK])
    assert held[KEY]["purpose"] == "stage" and held[KEY]["token"] == 1
    assert 0 < held[KEY]["ttl"] <= 30
    assert held[keys.SCAN_LOCK]["token"] == 0
    assert held[keys.NOTIFY_LOCK]["raw"] == "not ours at all"
    assert held[keys.NOTIFY_LOCK]["ttl"] is None
    assert "unknown holder" in locks.describe_holder(held[keys.NOTIFY_LOCK])

    assert await locks.break_lock(redis, "scan")  # short names get the lock prefix
    assert await locks.break_lock(redis, KEY)
    assert not await locks.break_lock(redis, KEY)  # already gone
    # A key that is not a lock cannot be broken: the name is always put under the prefix.
    assert not await locks.break_lock(redis, keys.release(ASIN))
    assert await redis.exists(keys.release(ASIN)) == 1
    assert [h["key"] for h in await locks.list_locks(redis)] == [keys.NOTIFY_LOCK]
    assert locks.describe_holder(await locks.read_holder(redis, KEY)).startswith("nobody")


async def test_a_lease_is_lost_when_redis_stays_away_for_a_ttl(tmp_path: Path, caplog):
    server = RedisServer(
        home=tmp_path / "redis",
        port=free_port(),
        fsync="everysec",
        binary=shutil.which("redis-server"),
    )
    server.start()
    redis = await connect(server.url)
    try:
        async with locks.held(redis, KEY, ttl=0.9, purpose="stage", fence_key=FENCE) as lease:
            server.stop()
            # Renewal retries until the TTL would have run out, then gives the lease up.
            await asyncio.wait_for(lease.lost.wait(), 30)
        # Leaving the block could not release (Redis is down): logged, not raised.
        assert "Redis unreachable" in caplog.text
        assert f"could not release {KEY}" in caplog.text
    finally:
        server.stop()
        await redis.aclose()
