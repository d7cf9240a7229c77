"""The pipeline engine with instrumented stages, against a real Redis."""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path

import pytest
from arq.jobs import Job, JobStatus

from mamfast.engine import control, keys, locks
from mamfast.engine.dispatch import submit
from mamfast.engine.reconcile import reconcile
from mamfast.errors import FenceRejectedError, InfohashMismatchError
from mamfast.models import Release, Stage, Status, job_id_for
from tests.conftest import BOTH_REDIS
from tests.support.drain import drain
from tests.support.engine_stages import calls, instrumented_pipeline, plan

ASIN = "B0TESTAAAA"


def release(asin: str = ASIN) -> Release:
    return Release(asin=asin, title="A Book", author="An Author", source_dir="/library/a")


def starts(log: list[str], asin: str = ASIN) -> list[str]:
    return [c.split(":")[1] for c in log if c.startswith(asin) and c.endswith(":start")]


async def test_double_enqueue_gives_one_job_per_stage(make_services, settings):
    res = await make_services(instrumented_pipeline())
    outcomes = await asyncio.gather(*(submit(res.engine, release()) for _ in range(10)))
    assert sum(o.created for o in outcomes) == 1
    assert sum(o.enqueued for o in outcomes) == 1
    assert await res.redis.zcard(keys.DEFAULT_QUEUE) == 1

    await drain(settings, res.engine.stages, res.engine.store)
    again = await submit(res.engine, release())  # re-enqueue of a finished release: nothing to do
    assert not again.created and not again.enqueued

    assert starts(await calls(res)) == ["stage", "metadata", "torrent", "upload"]
    final = await res.engine.store.get(ASIN)
    assert final is not None
    assert (final.stage, final.status) == (Stage.DONE, Status.READY)
    assert all(final.checkpoints.model_dump().values())
    assert final.infohash


async def test_transient_errors_retry_then_succeed(make_services, settings, redis):
    res = await make_services(instrumented_pipeline())
    await redis.hset(plan(ASIN, "metadata"), "transient", 2)
    await submit(res.engine, release())
    await drain(settings, res.engine.stages, res.engine.store)
    final = await res.engine.store.get(ASIN)
    assert final is not None and final.status is Status.READY
    assert final.attempts == {"metadata": 2}
    assert final.last_error is None
    assert starts(await calls(res)).count("metadata") == 3


async def test_attempts_exhausted_needs_attention_with_advice(make_services, settings, redis):
    res = await make_services(instrumented_pipeline(), max_attempts=3)
    await redis.hset(plan(ASIN, "torrent"), "transient", 100)
    await submit(res.engine, release())
    await drain(res.settings, res.engine.stages, res.engine.store)
    final = await res.engine.store.get(ASIN)
    assert final is not None
    assert (final.stage, final.status) == (Stage.TORRENT, Status.NEEDS_ATTENTION)
    assert final.attempts["torrent"] == 3
    assert final.error_type == "TransientError"
    assert "gave up after 3 attempts" in (final.last_error or "")
    assert f"mamfast retry {ASIN}" in (final.last_error or "")
    assert final.first_failed_at is not None


async def test_permanent_error_stops_at_once_and_retry_resumes(make_services, settings, redis):
    res = await make_services(instrumented_pipeline())
    await redis.hset(plan(ASIN, "metadata"), "permanent", 1)
    await submit(res.engine, release())
    await drain(settings, res.engine.stages, res.engine.store)
    failed = await res.engine.store.get(ASIN)
    assert failed is not None and failed.status is Status.NEEDS_ATTENTION
    assert failed.attempts == {"metadata": 1}
    assert failed.last_error == "metadata: simulated bad input. What to do: fix the input file"
    assert failed.error_type == "InputError"

    await redis.delete(plan(ASIN, "metadata"))
    result = await control.retry(res.engine, ASIN)
    assert result.ok, result.message
    await drain(settings, res.engine.stages, res.engine.store)
    final = await res.engine.store.get(ASIN)
    assert final is not None and final.status is Status.READY
    assert starts(await calls(res)) == ["stage", "metadata", "metadata", "torrent", "upload"]


async def test_missing_artifact_rewinds_to_its_stage(make_services, settings, redis, tmp_path):
    res = await make_services(instrumented_pipeline())
    staged = tmp_path / "seed" / "Book"
    await redis.hset(plan(ASIN, "stage"), "dir", str(staged))
    await redis.hset(plan(ASIN, "torrent"), "permanent", 1)
    await submit(res.engine, release())
    await drain(settings, res.engine.stages, res.engine.store)

    staged.rmdir()  # the staged folder vanished while the release waited
    await redis.delete(plan(ASIN, "torrent"))
    assert (await control.retry(res.engine, ASIN)).ok
    await drain(settings, res.engine.stages, res.engine.store)
    final = await res.engine.store.get(ASIN)
    assert final is not None and final.status is Status.READY
    assert staged.is_dir()
    assert starts(await calls(res)) == [
        "stage",
        "metadata",
        "torrent",  # first pass, torrent failed
        "stage",
        "metadata",
        "torrent",
        "upload",  # resumed: staged dir was gone
    ]
    assert any(w.startswith("resume:") for w in final.warnings)


async def test_a_stage_failing_because_its_input_vanished_rewinds_instead(
    make_services, settings, redis, tmp_path
):
    # The staged folder is deleted while metadata runs, which then fails on the missing
    # files: that is not bad input for a person to fix, the folder only needs staging again.
    res = await make_services(instrumented_pipeline())
    staged = tmp_path / "seed" / "Book"
    await redis.hset(plan(ASIN, "stage"), "dir", str(staged))
    await redis.hset(plan(ASIN, "metadata"), "vanish", str(staged))
    await submit(res.engine, release())
    await drain(settings, res.engine.stages, res.engine.store)
    final = await res.engine.store.get(ASIN)
    assert final is not None and final.status is Status.READY, final and final.last_error
    assert starts(await calls(res)) == [
        "stage",
        "metadata",
        "stage",
        "metadata",
        "torrent",
        "upload",
    ]
    assert final.attempts == {}
    assert any(w.startswith("resume:") for w in final.warnings)


async def test_reset_forces_stage_and_later_ones(make_services, settings):
    res = await make_services(instrumented_pipeline())
    await submit(res.engine, release())
    await drain(settings, res.engine.stages, res.engine.store)
    before = await res.engine.store.get(ASIN)
    assert before is not None

    result = await control.reset(res.engine, ASIN, Stage.TORRENT)
    assert result.ok, result.message
    await drain(settings, res.engine.stages, res.engine.store)
    after = await res.engine.store.get(ASIN)
    assert after is not None and after.status is Status.READY
    assert after.infohash == before.infohash
    assert starts(await calls(res))[-2:] == ["torrent", "upload"]


async def test_a_rerun_stage_replaces_only_its_own_warnings(make_services, settings, redis):
    res = await make_services(instrumented_pipeline())
    await redis.hset(plan(ASIN, "stage"), "warn", "copy: staged by copying")
    await redis.hset(plan(ASIN, "metadata"), "warn", "audnex: missing (not found in us)")
    await submit(res.engine, release())
    await drain(settings, res.engine.stages, res.engine.store)
    first = await res.engine.store.get(ASIN)
    assert first is not None
    assert first.warnings == ["copy: staged by copying", "audnex: missing (not found in us)"]

    await redis.hdel(plan(ASIN, "metadata"), "warn")  # Audnex found it this time
    assert (await control.reset(res.engine, ASIN, Stage.METADATA)).ok
    await drain(settings, res.engine.stages, res.engine.store)
    second = await res.engine.store.get(ASIN)
    assert second is not None
    assert [w for w in second.warnings if not w.startswith("reset:")] == ["copy: staged by copying"]


async def test_stale_lock_holder_write_is_fenced(make_services):
    res = await make_services(instrumented_pipeline())
    await submit(res.engine, release())
    record = await res.engine.store.get(ASIN)
    assert record is not None
    lock = keys.release_lock(ASIN)

    old = await locks.try_acquire(
        res.redis, lock, ttl=0.2, purpose="old", fence_key=keys.fence(ASIN)
    )
    assert old is not None
    await asyncio.sleep(0.3)  # the old holder pauses; its lease expires
    new = await locks.try_acquire(res.redis, lock, ttl=5, purpose="new", fence_key=keys.fence(ASIN))
    assert new is not None and new.token > old.token

    progressed = record.model_copy(update={"title": "newer progress"})
    await res.engine.store.commit(progressed, token=new.token, expected_run=record.run)
    stale = record.model_copy(update={"title": "stale overwrite"})
    with pytest.raises(FenceRejectedError):
        await res.engine.store.commit(stale, token=old.token, expected_run=record.run)
    stored = await res.engine.store.get(ASIN)
    assert stored is not None and stored.title == "newer progress"


async def test_worker_that_loses_its_lock_mid_stage_cannot_commit(make_services, settings, redis):
    res = await make_services(instrumented_pipeline())
    await redis.hset(plan(ASIN, "stage"), "sleep", 1.0)
    await submit(res.engine, release())

    async def steal() -> None:
        while not await redis.exists(keys.release_lock(ASIN)):
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        # Simulate expiry under a paused holder and a takeover by someone else.
        await redis.delete(keys.release_lock(ASIN))
        thief = await locks.try_acquire(
            redis, keys.release_lock(ASIN), ttl=30, purpose="thief", fence_key=keys.fence(ASIN)
        )
        assert thief is not None

    thief = asyncio.create_task(steal())
    with pytest.raises(TimeoutError):
        await drain(settings, res.engine.stages, res.engine.store, timeout=3)
    await thief
    record = await res.engine.store.get(ASIN)
    assert record is not None
    assert record.stage is Stage.STAGE and record.checkpoints.staged_at is None


async def test_infohash_never_changes_once_recorded(make_services, settings):
    res = await make_services(instrumented_pipeline())
    await submit(res.engine, release())
    await drain(settings, res.engine.stages, res.engine.store)
    record = await res.engine.store.get(ASIN)
    assert record is not None and record.infohash
    lease = await locks.acquire(
        res.redis, keys.release_lock(ASIN), ttl=5, purpose="t", fence_key=keys.fence(ASIN)
    )
    other = record.model_copy(update={"infohash": "f" * 40})
    with pytest.raises(InfohashMismatchError, match="refusing to make a second torrent"):
        await res.engine.store.commit(other, token=lease.token, expected_run=record.run)


async def test_infohash_belongs_to_one_release(make_services, settings, redis):
    res = await make_services(instrumented_pipeline())
    same = "a" * 40
    for asin in ("B0TESTAAAA", "B0TESTBBBB"):
        await redis.hset(plan(asin, "torrent"), "infohash", same)
        await submit(res.engine, release(asin))
    await drain(settings, res.engine.stages, res.engine.store)
    records = {r.asin: r for r in await res.engine.store.all()}
    statuses = sorted(r.status for r in records.values())
    assert statuses == [Status.NEEDS_ATTENTION, Status.READY]
    loser = next(r for r in records.values() if r.status is Status.NEEDS_ATTENTION)
    assert "already belongs to release" in (loser.last_error or "")


@BOTH_REDIS
async def test_reconciler_reenqueues_a_vanished_job(make_services, redis):
    res = await make_services(instrumented_pipeline())
    outcome = await submit(res.engine, release())
    job_id = outcome.release.job_id
    # The job vanishes (Redis data lost, or a crash between commit and enqueue).
    await redis.zrem(keys.DEFAULT_QUEUE, job_id)
    await redis.delete(f"arq:job:{job_id}")
    assert await Job(job_id, redis, _queue_name=keys.DEFAULT_QUEUE).status() is JobStatus.not_found

    report = await reconcile(res.engine)
    assert report.enqueued == [ASIN]
    assert await Job(job_id, redis, _queue_name=keys.DEFAULT_QUEUE).status() is JobStatus.queued
    assert (await reconcile(res.engine)).enqueued == []  # idempotent


@BOTH_REDIS
async def test_reconciler_redispatches_job_of_a_dead_worker(make_services, redis):
    res = await make_services(instrumented_pipeline())
    outcome = await submit(res.engine, release())
    job_id = outcome.release.job_id
    # A worker claimed the job and died: arq's in-progress key outlives it, no lock is held.
    await redis.set(f"arq:in-progress:{job_id}", b"1", ex=3600)

    first = await reconcile(res.engine, grace=0.2)
    assert first.suspects == [ASIN] and first.redispatched == []
    await asyncio.sleep(0.3)
    second = await reconcile(res.engine, grace=0.2)
    assert second.redispatched == [ASIN]
    record = await res.engine.store.get(ASIN)
    assert record is not None and record.run == outcome.release.run + 1
    assert (
        await Job(record.job_id, redis, _queue_name=keys.DEFAULT_QUEUE).status() is JobStatus.queued
    )


@BOTH_REDIS
async def test_one_bad_release_does_not_stop_the_reconciler_pass(make_services, redis):
    res = await make_services(instrumented_pipeline())
    asins = ["B0RECON001", "B0RECON002", "B0RECON003"]
    jobs = [(await submit(res.engine, release(asin))).release.job_id for asin in asins]
    for job_id in jobs:  # every job vanished (Redis data lost)
        await redis.zrem(keys.DEFAULT_QUEUE, job_id)
        await redis.delete(f"arq:job:{job_id}")
    # One record is unreadable; one job's worker died and its suspect key is not a string.
    await redis.hset(keys.release(asins[0]), "doc", "{not json")
    await redis.set(f"arq:in-progress:{jobs[1]}", b"1", ex=3600)
    await redis.rpush(keys.suspect(jobs[1]), "garbage")

    report = await reconcile(res.engine)
    assert report.enqueued == [asins[2]]
    assert sorted(report.failed) == asins[:2]
    assert report.checked == 2  # the unreadable record is reported, not counted as checked


async def test_jobs_of_dead_workers_at_the_head_of_the_queue_do_not_starve_the_rest(
    make_services, settings, redis
):
    # arq keeps a SIGKILLed worker's job in the queue, marked in progress until the
    # job timeout runs out (minutes, hours on the hash queue), and workers read only the
    # first hundred ids of the queue: a hundred such jobs at its head hid every other one.
    res = await make_services(instrumented_pipeline())
    dead = [f"B0DEAD{i:04d}" for i in range(100)]
    for asin in dead:
        await submit(res.engine, release(asin))
        await redis.set(f"arq:in-progress:{job_id_for(asin, Stage.STAGE, 1)}", b"1", px=3_600_000)
    await submit(res.engine, release())  # a healthy release, queued behind them
    await drain(settings, res.engine.stages, res.engine.store, timeout=60)
    records = await res.engine.store.get_many([*dead, ASIN])
    assert {r.status for r in records} == {Status.READY}
    assert await redis.zcard(keys.DEFAULT_QUEUE) == 0  # the dead workers' jobs are gone too


async def test_pickled_payload_is_refused_not_executed(
    make_services, settings, redis, tmp_path: Path
):
    res = await make_services(instrumented_pipeline())
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (marker,))

    payload = pickle.dumps(
        {"f": "run_stage", "a": [ASIN, "stage"], "k": {}, "t": 1, "et": 0, "x": Exploit()}
    )
    await redis.psetex("arq:job:planted", 60_000, payload)
    await redis.zadd(keys.DEFAULT_QUEUE, {"planted": 1})
    await submit(res.engine, release())  # a legitimate release alongside
    await drain(settings, res.engine.stages, res.engine.store)
    assert not marker.exists()
    assert await redis.zscore(keys.DEFAULT_QUEUE, "planted") is None
    final = await res.engine.store.get(ASIN)
    assert final is not None and final.status is Status.READY


async def test_mark_uploaded_only_for_a_finished_release_and_undoable(make_services, settings):
    res = await make_services(instrumented_pipeline())
    await submit(res.engine, release())
    early = await control.mark_uploaded(res.engine, ASIN)
    assert not early.ok and "not ready" in early.message

    await drain(settings, res.engine.stages, res.engine.store)
    marked = await control.mark_uploaded(res.engine, ASIN)
    assert marked.ok, marked.message
    stored = await res.engine.store.get(ASIN)
    assert stored is not None and stored.mam_uploaded_at is not None
    assert stored.checkpoints.uploaded_at is not None  # the qBittorrent checkpoint is apart
    assert not (await control.mark_uploaded(res.engine, ASIN)).ok  # twice: nothing to do

    undone = await control.mark_uploaded(res.engine, ASIN, uploaded=False)
    assert undone.ok and "no longer" in undone.message
    stored = await res.engine.store.get(ASIN)
    assert stored is not None and stored.mam_uploaded_at is None
    assert (stored.stage, stored.status) == (Stage.DONE, Status.READY)
