"""The pipeline engine: one arq job per stage per release, chained.

A stage job, step by step (`run_stage`):

1. Load the record. If its `stage`/`run` no longer match the job id, the job is
   stale (superseded by a newer dispatch, a reset, or already done): return.
2. Take the release lock; it yields a fencing token. Busy: `Retry` shortly.
3. Validate the artifacts of earlier checkpoints; a missing one rewinds the
   release to that stage (the seed's artifact validation).
4. Run the stage function under the lease; it is idempotent and reuses what
   already exists on disk or in the client.
5. Commit with compare-and-set on the fence token: checkpoint time, paths,
   infohash, next stage, next `run`.
6. Release the lock, then enqueue the next stage's job (deterministic id).

A crash before 5 re-runs an idempotent stage; a crash after 5 only needs the
enqueue, which the reconciler redoes. Transient errors commit `retrying` and
raise `Retry(defer=backoff)`; permanent ones commit `needs_attention` with a
message that says what to fix. Cancellation (SIGTERM) costs no attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.jobs import Job, JobStatus
from arq.worker import Retry
from redis.exceptions import RedisError

from mamfast.engine import keys, locks
from mamfast.engine.connections import UNREACHABLE
from mamfast.engine.locks import Lease, LeaseLostError
from mamfast.engine.resources import Resources
from mamfast.errors import (
    DamagedRecordError,
    FenceRejectedError,
    LockBusyError,
    MamfastError,
    PermanentError,
    StaleJobError,
    TransientError,
)
from mamfast.fs.permissions import configured_folders, permission_error
from mamfast.models import (
    CHECKPOINT_FIELD,
    STAGE_ORDER,
    Checkpoints,
    Release,
    Stage,
    StageResult,
    Status,
    next_stage,
    stages_from,
    utcnow,
    warning_key,
)

log = logging.getLogger(__name__)

JOB_FUNCTION = "run_stage"
JOB_EXPIRES = timedelta(days=30)  # arq drops jobs not started by then; the reconciler re-adds
LOCK_BUSY_DEFER = 2.0

StageFunction = Callable[[Resources, Release], Awaitable[StageResult]]
ArtifactCheck = Callable[[Release], str | None]


def _no_artifacts(release: Release) -> str | None:
    return None


@dataclass(frozen=True)
class StageSpec:
    """How the engine runs one stage. `artifacts_missing` returns why a checkpoint is void."""

    stage: Stage
    run: StageFunction
    artifacts_missing: ArtifactCheck = _no_artifacts
    queue: str = keys.DEFAULT_QUEUE
    timeout: float | None = None  # None: settings.stage_timeout


Pipeline = Mapping[Stage, StageSpec]


# --------------------------------------------------------------------------- dispatch


def queue_for(stages: Pipeline, stage: Stage) -> str:
    spec = stages.get(stage)
    return spec.queue if spec else keys.DEFAULT_QUEUE


async def dispatch(redis: ArqRedis, stages: Pipeline, release: Release) -> bool:
    """Enqueue the release's current job. False when arq already has that id (fine)."""
    if release.terminal or release.stage is Stage.DONE:
        return False
    defer = release.next_attempt_at if release.status is Status.RETRYING else None
    job = await redis.enqueue_job(
        JOB_FUNCTION,
        release.asin,
        release.stage.value,
        _job_id=release.job_id,
        _queue_name=queue_for(stages, release.stage),
        _defer_until=defer if defer and defer > utcnow() else None,
        _expires=JOB_EXPIRES,
    )
    return job is not None


@dataclass
class SubmitOutcome:
    release: Release
    created: bool
    enqueued: bool


async def submit(res: Resources, release: Release) -> SubmitOutcome:
    """Create the record if new and make sure its current job is queued."""
    stored, created = await res.store.create(release)
    enqueued = False
    if not stored.terminal:
        enqueued = await dispatch(res.redis, res.stages, stored)
    return SubmitOutcome(stored, created, enqueued)


# --------------------------------------------------------------------------- stage job


async def run_stage(res: Resources, asin: str, stage_name: str, job_id: str) -> str:
    """The body of every stage job. Returns a short outcome word for arq's log."""
    stage = Stage(stage_name)
    try:
        record = await res.store.get(asin)
        if not _is_current(record, stage, job_id):
            return "stale"
        try:
            async with locks.held(
                res.redis,
                keys.release_lock(asin),
                ttl=res.settings.lock_ttl,
                purpose=f"{stage} job {job_id}",
                fence_key=keys.fence(asin),
            ) as lease:
                outcome, follow_up = await _run_locked(res, lease, asin, stage, job_id)
        except LockBusyError:
            raise Retry(defer=LOCK_BUSY_DEFER) from None
        except (FenceRejectedError, StaleJobError) as exc:
            log.info("%s: %s; leaving it to the newer job", job_id, exc)
            return "superseded"
        except LeaseLostError as exc:
            log.warning("%s: %s", job_id, exc)
            raise Retry(defer=res.settings.lock_ttl) from None
        if follow_up is not None:
            await dispatch(res.redis, res.stages, follow_up)
        return outcome
    except RedisError as exc:
        # Redis blipped: nothing was committed that a re-run cannot redo.
        log.warning("%s: Redis error (%s); retrying the job", job_id, exc)
        raise Retry(defer=5) from None
    except DamagedRecordError as exc:
        # Nothing in a record we cannot read is trusted, least of all its paths.
        log.error("%s: %s; not run. What to do: %s", job_id, exc.message, exc.hint)
        return "damaged"


def _is_current(record: Release | None, stage: Stage, job_id: str) -> bool:
    return record is not None and record.stage is stage and record.job_id == job_id


async def _run_locked(
    res: Resources, lease: Lease, asin: str, stage: Stage, job_id: str
) -> tuple[str, Release | None]:
    """Steps 1-5 under the lock. Returns (outcome, release to dispatch next or None)."""
    record = await res.store.get(asin)  # re-read: it may have moved while we waited
    if record is None or not _is_current(record, stage, job_id):
        return "stale", None

    rewound = _rewind_if_artifacts_missing(res.stages, record)
    if rewound is not None:
        stored = await res.store.commit(rewound, token=lease.token, expected_run=record.run)
        return "rewound", stored

    running = record.model_copy(update={"status": Status.RUNNING, "next_attempt_at": None})
    record = await res.store.commit(running, token=lease.token, expected_run=record.run)
    spec = res.stages[stage]
    timeout = spec.timeout or res.settings.stage_timeout
    started = time.monotonic()
    try:
        result = await locks.guarded(lease, _with_timeout(spec.run(res, record), timeout, stage))
    except asyncio.CancelledError:
        await _requeue_on_cancel(res, lease, record)
        raise
    except LeaseLostError:
        raise
    except Exception as exc:
        return await _settle_failure(res, lease, record, exc)
    log.info("%s: %s done in %.2fs", asin, stage, time.monotonic() - started)
    try:
        stored = await res.store.commit(
            advance(record, stage, result), token=lease.token, expected_run=record.run
        )
    except PermanentError as exc:  # the store's last line of defence (infohash rules)
        await _commit_failure(res, lease, record, exc, permanent=True)
        return "needs_attention", None
    return "ok", None if stored.terminal else stored


async def _settle_failure(
    res: Resources, lease: Lease, record: Release, exc: Exception
) -> tuple[str, Release | None]:
    """A stage failed: rewind, stop for a person, or retry later (raises arq's Retry)."""
    # An earlier stage's output vanished under the stage (a staged folder deleted
    # mid-metadata) and made it fail: staging again fixes that, not a person.
    rewound = _rewind_if_artifacts_missing(res.stages, record)
    if rewound is not None:
        log.warning("%s: %s failed (%s) after its input vanished", record.asin, record.stage, exc)
        stored = await res.store.commit(rewound, token=lease.token, expected_run=record.run)
        return "rewound", stored
    if isinstance(exc, PermissionError):  # a retry cannot change who owns a folder: say whose
        exc = permission_error(configured_folders(res.settings), exc)
    if isinstance(exc, PermanentError):
        await _commit_failure(res, lease, record, exc, permanent=True)
        return "needs_attention", None
    # Transient, or a bug: retried until the budget runs out.
    delay = await _commit_failure(res, lease, record, exc, permanent=False)
    if delay is None:
        return "needs_attention", None
    raise Retry(defer=delay) from None


async def _with_timeout(work: Awaitable[StageResult], timeout: float, stage: Stage) -> StageResult:
    try:
        async with asyncio.timeout(timeout):
            return await work
    except TimeoutError:
        raise TransientError(
            f"the {stage} stage did not finish within {timeout:.0f}s",
            hint="check the disk and services it uses; the limit is MAMFAST_STAGE_TIMEOUT "
            "(MAMFAST_HASH_TIMEOUT for torrents)",
        ) from None


def _rewind_if_artifacts_missing(stages: Pipeline, record: Release) -> Release | None:
    """The seed's artifact validation: a checkpoint whose files are gone re-runs its stage."""
    for earlier in STAGE_ORDER:
        if earlier is record.stage or record.stage is Stage.DONE:
            break
        spec = stages.get(earlier)
        if record.checkpoints.get(earlier) is None or spec is None:
            continue
        missing = spec.artifacts_missing(record)
        if missing:
            log.warning("%s: %s; re-running from %s", record.asin, missing, earlier)
            return rewind(record, earlier, note=f"resume: {missing}; re-ran {earlier}")
    return None


def rewind(record: Release, stage: Stage, *, note: str | None = None) -> Release:
    """Move a release back to `stage`, voiding that checkpoint and every later one.

    The infohash stays recorded: a re-created torrent must reproduce it.
    """
    cleared = {CHECKPOINT_FIELD[s]: None for s in stages_from(stage)}
    checkpoints = Checkpoints(**{**record.checkpoints.model_dump(), **cleared})
    attempts = {k: v for k, v in record.attempts.items() if Stage(k) not in stages_from(stage)}
    return record.model_copy(
        update={
            "stage": stage,
            "status": Status.QUEUED,
            "run": record.run + 1,
            "checkpoints": checkpoints,
            "attempts": attempts,
            "last_error": None,
            "error_type": None,
            "next_attempt_at": None,
            "warnings": record.with_warning(note) if note else record.warnings,
        }
    )


def advance(record: Release, stage: Stage, result: StageResult) -> Release:
    """The record after `stage` succeeded: checkpoint stamped, next stage queued."""
    fields = Release.model_fields
    unknown = set(result.updates) - set(fields)
    if unknown:
        raise ValueError(f"stage {stage} returned unknown record fields {sorted(unknown)}")
    warnings, details = _stage_warnings(record, stage, result)
    checkpoints = record.checkpoints.model_copy(update={CHECKPOINT_FIELD[stage]: utcnow()})
    following = next_stage(stage)
    update: dict[str, Any] = {
        **result.updates,
        "details": details,
        "checkpoints": checkpoints,
        "warnings": warnings,
        "last_error": None,
        "error_type": None,
        "first_failed_at": None,
        "next_attempt_at": None,
        "stage": following,
    }
    if following is Stage.DONE:
        update["status"] = result.final_status or Status.COMPLETE
    else:
        update["status"] = Status.QUEUED
        update["run"] = record.run + 1
    return Release.model_validate({**record.model_dump(), **update})


def _stage_warnings(
    record: Release, stage: Stage, result: StageResult
) -> tuple[list[str], dict[str, Any]]:
    """This stage's new warnings replace the ones its previous run left (a re-run that
    found Audnex clears `audnex: missing`); other stages' warnings stay. Stage details
    are merged key by key, so one stage never erases another's."""
    details = {**record.details, **result.updates.get("details", {})}
    owned = dict(details.get("warning_keys", {}))
    stale = set(owned.get(stage.value, []))
    kept = [w for w in record.warnings if warning_key(w) not in stale]
    for warning in result.warnings:
        kept = [w for w in kept if warning_key(w) != warning_key(warning)] + [warning]
    owned[stage.value] = sorted({warning_key(w) for w in result.warnings})
    details["warning_keys"] = owned
    return kept, details


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: base, 2x base, 4x base... capped, times 0.5-1.0."""
    raw: float = min(cap, base * (2 ** max(0, attempt - 1)))
    return raw * random.uniform(0.5, 1.0)


def explain(stage: Stage, exc: BaseException) -> str:
    if isinstance(exc, MamfastError):
        text = exc.message + (f". What to do: {exc.hint}" if exc.hint else "")
    else:
        text = f"unexpected {type(exc).__name__}: {exc}"
    return f"{stage}: {text}"


async def _commit_failure(
    res: Resources, lease: Lease, record: Release, exc: BaseException, *, permanent: bool
) -> float | None:
    """Record a failure. Returns the retry delay, or None when the release needs a person."""
    stage = record.stage
    attempts = {**record.attempts, stage.value: record.attempts.get(stage.value, 0) + 1}
    tries = attempts[stage.value]
    message = explain(stage, exc)
    exhausted = tries >= res.settings.max_attempts
    if not permanent and exhausted:
        message = (
            f"{message} (gave up after {tries} attempts; when the cause is fixed run "
            f"`mamfast retry {record.asin}`)"
        )
    log.log(
        logging.ERROR if permanent or exhausted else logging.WARNING,
        "%s: %s",
        record.asin,
        message,
        exc_info=not isinstance(exc, MamfastError),
    )
    update: dict[str, Any] = {
        "attempts": attempts,
        "last_error": message,
        "error_type": type(exc).__name__,
        "first_failed_at": record.first_failed_at or utcnow(),
    }
    delay: float | None = None
    if permanent or exhausted:
        update.update(status=Status.NEEDS_ATTENTION, next_attempt_at=None)
    else:
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        delay = retry_after or backoff(
            tries, base=res.settings.retry_base_seconds, cap=res.settings.retry_max_seconds
        )
        update.update(status=Status.RETRYING, next_attempt_at=utcnow() + timedelta(seconds=delay))
    failed = record.model_copy(update=update)
    await res.store.commit(failed, token=lease.token, expected_run=record.run)
    return delay


async def _requeue_on_cancel(res: Resources, lease: Lease, record: Release) -> None:
    """SIGTERM: say the release is queued again (best effort) and spend no attempt."""
    queued = record.model_copy(update={"status": Status.QUEUED})
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            await asyncio.shield(
                res.store.commit(queued, token=lease.token, expected_run=record.run)
            )


# --------------------------------------------------------------------------- reconciler


@dataclass
class ReconcileReport:
    checked: int = 0
    enqueued: list[str] = field(default_factory=list)
    redispatched: list[str] = field(default_factory=list)
    suspects: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # an error on this release; others went on
    skipped: bool = False


async def reconcile(res: Resources, *, grace: float | None = None) -> ReconcileReport:
    """Re-enqueue releases that are not terminal, have no live job and no live lock.

    A job whose worker died (SIGKILL, OOM) stays `in_progress` in arq until the
    in-progress key expires, which can be hours for the hash queue. Its release
    lock, renewed every TTL/3, expires within `lock_ttl`. A release seen
    in-progress without a lock on two passes `grace` seconds apart is given a
    new dispatch (`run` + 1): the old job, if it ever runs, finds itself stale.
    """
    report = ReconcileReport()
    grace = res.settings.reconcile_seconds / 2 if grace is None else grace
    ttl = res.settings.lock_ttl
    async with locks.held_if_free(
        res.redis, keys.RECONCILE_LOCK, ttl=ttl, purpose="reconciler"
    ) as lease:
        if lease is None:
            report.skipped = True
            return report
        for record in await _active_records(res, report):
            report.checked += 1
            try:
                await _reconcile_one(res, record, grace, report)
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


async def _active_records(res: Resources, report: ReconcileReport) -> list[Release]:
    """The readable active records; a damaged one is reported and hides no other."""
    records, damaged = await res.store.read_many(await res.store.active_asins())
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
    res: Resources, record: Release, grace: float, report: ReconcileReport
) -> None:
    if record.terminal or record.stage is Stage.DONE:
        await res.redis.srem(keys.ACTIVE, record.asin)  # type: ignore[misc]
        return
    if await res.redis.exists(keys.release_lock(record.asin)):
        return  # someone is working on it right now
    queue = queue_for(res.stages, record.stage)
    status = await Job(record.job_id, res.redis, _queue_name=queue).status()
    if status in (JobStatus.queued, JobStatus.deferred):
        return
    if status is JobStatus.in_progress:
        if await _suspect_long_enough(res, record.job_id, grace):
            if await redispatch(res, record.asin, expected_run=record.run):
                await _drop_dead_job(res, record.job_id, queue)
                report.redispatched.append(record.asin)
        else:
            report.suspects.append(record.asin)
        return
    if status is JobStatus.not_found:
        # Lost job (crash between commit and enqueue, or Redis data loss): same id again.
        current = await res.store.get(record.asin)
        if (
            current
            and current.job_id == record.job_id
            and await dispatch(res.redis, res.stages, current)
        ):
            report.enqueued.append(record.asin)
        return
    # `complete`: a kept result blocks this id; only a new dispatch can run the stage.
    if await redispatch(res, record.asin, expected_run=record.run):
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


async def _drop_dead_job(res: Resources, job_id: str, queue: str) -> None:
    """Take a dead worker's job out of arq, once the release has moved to a new job.

    arq leaves it in the queue, marked in progress until the job timeout runs out
    (up to hours on the hash queue), and a worker reads only the first hundred ids of
    its queue: enough of these at the head would hide every other job. The job is stale
    now (the record's run moved on), so nothing can still want it; a zombie worker that
    wakes up is fenced off by the release lock.
    """
    async with res.redis.pipeline(transaction=True) as pipe:
        pipe.zrem(queue, job_id)
        pipe.delete(
            in_progress_key_prefix + job_id, job_key_prefix + job_id, retry_key_prefix + job_id
        )
        await pipe.execute()


async def _suspect_long_enough(res: Resources, job_id: str, grace: float) -> bool:
    now = time.time()
    first_seen = res.redis.register_script(_FIRST_SEEN)
    first = await first_seen(keys=[keys.suspect(job_id)], args=[repr(now), 3600])
    return first is not None and now - float(first) >= grace


async def redispatch(res: Resources, asin: str, *, expected_run: int) -> bool:
    """Give the release a fresh job id (run + 1) and enqueue it; fenced like a stage."""
    lease = await locks.try_acquire(
        res.redis,
        keys.release_lock(asin),
        ttl=res.settings.lock_ttl,
        purpose="reconciler re-dispatch",
        fence_key=keys.fence(asin),
    )
    if lease is None:
        return False
    try:
        record = await res.store.get(asin)
        if record is None or record.run != expected_run or record.terminal:
            return False
        status = Status.RETRYING if record.status is Status.RETRYING else Status.QUEUED
        fresh = record.model_copy(update={"run": record.run + 1, "status": status})
        stored = await res.store.commit(fresh, token=lease.token, expected_run=record.run)
    finally:
        await locks.release(res.redis, lease)
    return await dispatch(res.redis, res.stages, stored) or True
