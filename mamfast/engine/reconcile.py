"""The reconciler: re-enqueue releases whose job was lost or whose worker died."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.jobs import Job, JobStatus

from mamfast.engine import keys, liveness, locks
from mamfast.engine.connections import UNREACHABLE
from mamfast.engine.dispatch import dispatch
from mamfast.engine.engine import Engine
from mamfast.engine.spec import S, queue_for
from mamfast.errors import (
    MamfastError,
)
from mamfast.models import (
    Release,
    Stage,
    Status,
)

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    checked: int = 0
    enqueued: list[str] = field(default_factory=list)
    redispatched: list[str] = field(default_factory=list)
    suspects: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # an error on this release; others went on
    skipped: bool = False


async def reconcile(engine: Engine[S], *, grace: float | None = None) -> ReconcileReport:
    """Re-enqueue releases that are not terminal, have no live job and no live lock.

    A job whose worker died (SIGKILL, OOM) stays `in_progress` in arq until the
    in-progress key expires, which can be hours for the hash queue. Its release
    lock, renewed every TTL/3, expires within `lock_ttl`. A release seen
    in-progress without a lock on two passes `grace` seconds apart is given a
    new dispatch (`run` + 1): the old job, if it ever runs, finds itself stale.
    """
    report = ReconcileReport()
    grace = engine.settings.reconcile_seconds / 2 if grace is None else grace
    ttl = engine.settings.lock_ttl
    async with locks.held_if_free(
        engine.redis, keys.RECONCILE_LOCK, ttl=ttl, purpose="reconciler"
    ) as lease:
        if lease is None:
            report.skipped = True
            return report
        for record in await _active_records(engine, report):
            report.checked += 1
            try:
                await _reconcile_one(engine, record, grace, report)
            except UNREACHABLE:
                raise  # every release would fail the same way; the next pass retries
            except Exception as exc:
                _skip(report, record.asin, exc)
    if report.enqueued or report.redispatched:
        log.info(
            "reconciler: re-enqueued %s, re-dispatched %s",
            report.enqueued or "-",
            report.redispatched or "-",
        )
    return report


async def _active_records(engine: Engine[S], report: ReconcileReport) -> list[Release]:
    """The readable active records; a damaged one is reported and hides no other."""
    records, damaged = await engine.store.read_many(await engine.store.active_asins())
    for bad in damaged:
        report.failed.append(bad.asin)
        log.error("reconciler: %s skipped (%s); the other releases go on", bad.asin, bad.problem)
    return records


def _skip(report: ReconcileReport, asin: str, exc: Exception) -> None:
    report.failed.append(asin)
    log.error(
        "reconciler: %s skipped this pass (%s: %s); the other releases go on",
        asin,
        type(exc).__name__,
        exc,
        exc_info=not isinstance(exc, MamfastError | ValueError),
    )


async def _reconcile_one(
    engine: Engine[S], record: Release, grace: float, report: ReconcileReport
) -> None:
    if record.terminal or record.stage is Stage.DONE:
        await engine.redis.srem(keys.ACTIVE, record.asin)  # type: ignore[misc]
        return
    if await engine.redis.exists(keys.release_lock(record.asin)):
        return  # someone is working on it right now
    queue = queue_for(engine.stages, record.stage)
    status = await Job(record.job_id, engine.redis, _queue_name=queue).status()
    if status in (JobStatus.queued, JobStatus.deferred):
        return
    if status is JobStatus.in_progress:
        if await _suspect_long_enough(engine, record.job_id, grace):
            if await redispatch(engine, record.asin, expected_run=record.run):
                await _drop_dead_job(engine, record.job_id, queue)
                report.redispatched.append(record.asin)
        else:
            report.suspects.append(record.asin)
        return
    if status is JobStatus.not_found:
        # Lost job (crash between commit and enqueue, or Redis data loss): same id again.
        current = await engine.store.get(record.asin)
        if (
            current
            and current.job_id == record.job_id
            and await dispatch(engine.redis, engine.stages, current)
        ):
            report.enqueued.append(record.asin)
        return
    # `complete`: a kept result blocks this id; only a new dispatch can run the stage.
    if await redispatch(engine, record.asin, expected_run=record.run):
        report.redispatched.append(record.asin)


# SET key value NX GET in one step, which Redis refuses before 7.0: the first time
# a job was seen in progress without a lock, recorded now if this is the first.
# KEYS: suspect key  ARGV: now, ttl seconds
_FIRST_SEEN = """
local first = redis.call('get', KEYS[1])
if first then return first end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""


async def _drop_dead_job(engine: Engine[S], job_id: str, queue: str) -> None:
    """Take a dead worker's job out of arq, once the release has moved to a new job.

    arq leaves it in the queue, marked in progress until the job timeout runs out
    (up to hours on the hash queue), and a worker reads only the first hundred ids of
    its queue: enough of these at the head would hide every other job. The job is stale
    now (the record's run moved on), so nothing can still want it; a zombie worker that
    wakes up is fenced off by the release lock.
    """
    async with engine.redis.pipeline(transaction=True) as pipe:
        pipe.zrem(queue, job_id)
        pipe.delete(
            in_progress_key_prefix + job_id, job_key_prefix + job_id, retry_key_prefix + job_id
        )
        await pipe.execute()


async def _suspect_long_enough(engine: Engine[S], job_id: str, grace: float) -> bool:
    now = time.time()
    first_seen = engine.redis.register_script(_FIRST_SEEN)
    first = await first_seen(keys=[keys.suspect(job_id)], args=[repr(now), 3600])
    return first is not None and now - float(first) >= grace


async def redispatch(engine: Engine[S], asin: str, *, expected_run: int) -> bool:
    """Give the release a fresh job id (run + 1) and enqueue it; fenced like a stage."""
    lease = await locks.try_acquire(
        engine.redis,
        keys.release_lock(asin),
        ttl=engine.settings.lock_ttl,
        purpose="reconciler re-dispatch",
        fence_key=keys.fence(asin),
    )
    if lease is None:
        return False
    try:
        record = await engine.store.get(asin)
        if record is None or record.run != expected_run or record.terminal:
            return False
        status = Status.RETRYING if record.status is Status.RETRYING else Status.QUEUED
        fresh = record.model_copy(update={"run": record.run + 1, "status": status})
        stored = await engine.store.commit(fresh, token=lease.token, expected_run=record.run)
    finally:
        await locks.release(engine.redis, lease)
    return await dispatch(engine.redis, engine.stages, stored) or True


async def sweep_dead_workers(engine: Engine[S]) -> list[str]:
    """Void dead workers' leases and re-dispatch their releases now. Returns those ASINs.

    Run every second beside the reconciler. The sweep itself is one atomic script and
    each re-dispatch takes the release lock, so sweeps running in several workers at
    once are safe and the reconciler's lease is not needed (that would cost two more
    commands a second on an idle Redis).
    """
    found = await liveness.sweep(engine.redis)
    moved = []
    for lock_key in found.voided:
        asin = keys.asin_of_release_lock(lock_key)
        if asin is None:
            continue
        try:
            record = await engine.store.get(asin)
            if record is None or record.terminal or record.stage is Stage.DONE:
                continue
            queue = queue_for(engine.stages, record.stage)
            if await redispatch(engine, asin, expected_run=record.run):
                await _drop_dead_job(engine, record.job_id, queue)
                moved.append(asin)
        except UNREACHABLE:
            raise  # the reconciler's pass picks these releases up once Redis is back
        except Exception as exc:
            _skip(ReconcileReport(), asin, exc)
    if moved:
        log.info("re-dispatched at once, their worker died: %s", ", ".join(moved))
    return moved
