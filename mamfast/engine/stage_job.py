"""The pipeline engine: one arq job per stage per release, chained.

A stage job, step by step (`run_stage`):

1. Load the record. If its `stage`/`run` no longer match the job id, the job is
   stale (superseded by a newer dispatch, a reset, or already done): return.
2. Take the release lock; it yields a fencing token. Busy: `Retry` shortly.
3. Validate the artifacts of earlier checkpoints; a missing one rewinds the
   release to that stage, which then runs again.
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
import time
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from arq.worker import Retry
from redis.exceptions import RedisError

from mamfast.engine import keys, locks, stats
from mamfast.engine.backoff import backoff
from mamfast.engine.dispatch import dispatch
from mamfast.engine.engine import Engine
from mamfast.engine.locks import Lease, LeaseLostError
from mamfast.engine.spec import S
from mamfast.engine.transitions import advance, explain, rewind_if_artifacts_missing
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
    Release,
    Stage,
    StageResult,
    Status,
    utcnow,
)

log = logging.getLogger(__name__)

LOCK_BUSY_DEFER = 2.0


async def run_stage(engine: Engine[S], services: S, asin: str, stage_name: str, job_id: str) -> str:
    """The body of every stage job. Returns a short outcome word for arq's log.

    `services` is what the stage functions take (the worker's clients and pools);
    the engine only hands it on.
    """
    stage = Stage(stage_name)
    try:
        record = await engine.store.get(asin)
        if not _is_current(record, stage, job_id):
            return "stale"
        try:
            async with locks.held(
                engine.redis,
                keys.release_lock(asin),
                ttl=engine.settings.lock_ttl,
                purpose=f"{stage} job {job_id}",
                fence_key=keys.fence(asin),
                owner=engine.worker_id,
            ) as lease:
                outcome, follow_up = await _run_locked(engine, services, lease, asin, stage, job_id)
        except LockBusyError:
            raise Retry(defer=LOCK_BUSY_DEFER) from None
        except (FenceRejectedError, StaleJobError) as exc:
            log.info("%s: %s; leaving it to the newer job", job_id, exc)
            return "superseded"
        except LeaseLostError as exc:
            log.warning("%s: %s", job_id, exc)
            raise Retry(defer=engine.settings.lock_ttl) from None
        if follow_up is not None:
            await dispatch(engine.redis, engine.stages, follow_up)
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
    engine: Engine[S], services: S, lease: Lease, asin: str, stage: Stage, job_id: str
) -> tuple[str, Release | None]:
    """Steps 1-5 under the lock. Returns (outcome, release to dispatch next or None)."""
    record = await engine.store.get(asin)  # re-read: it may have moved while we waited
    if record is None or not _is_current(record, stage, job_id):
        return "stale", None

    rewound = await _artifacts_checked(engine, record)
    if rewound is not None:
        stored = await engine.store.commit(rewound, token=lease.token, expected_run=record.run)
        return "rewound", stored

    running = record.model_copy(update={"status": Status.RUNNING, "next_attempt_at": None})
    record = await engine.store.commit(running, token=lease.token, expected_run=record.run)
    spec = engine.stages[stage]
    timeout = spec.timeout or engine.settings.stage_timeout
    started = time.monotonic()
    try:
        result = await locks.guarded(
            lease, _with_timeout(spec.run(services, record), timeout, stage)
        )
    except asyncio.CancelledError:
        await _requeue_on_cancel(engine, lease, record)
        raise
    except LeaseLostError:
        raise
    except Exception as exc:
        return await _settle_failure(engine, lease, record, exc)
    seconds = time.monotonic() - started
    log.info("%s: %s done in %.2fs", asin, stage, seconds)
    try:
        stored = await engine.store.commit(
            advance(record, stage, result), token=lease.token, expected_run=record.run
        )
    except PermanentError as exc:  # the store's last line of defence (infohash rules)
        await _commit_failure(engine, lease, record, exc, permanent=True)
        return "needs_attention", None
    await stats.record_run(engine.redis, stage.value, seconds, hashed_bytes=result.hashed_bytes)
    return "ok", None if stored.terminal else stored


async def _artifacts_checked(engine: Engine[S], record: Release) -> Release | None:
    """The record rewound to the first stage whose files are gone, or None (step 3).

    The checks stat and read files: in a thread, never on the event loop, where one slow
    NFS stat would also stop the lease renewal that keeps this job's lock.
    """
    return await asyncio.to_thread(rewind_if_artifacts_missing, engine.stages, record)


async def _settle_failure(
    engine: Engine[S], lease: Lease, record: Release, exc: Exception
) -> tuple[str, Release | None]:
    """A stage failed: rewind, stop for a person, or retry later (raises arq's Retry)."""
    # An earlier stage's output vanished under the stage (a staged folder deleted
    # mid-metadata) and made it fail: staging again fixes that, not a person.
    rewound = await _artifacts_checked(engine, record)
    if rewound is not None:
        log.warning("%s: %s failed (%s) after its input vanished", record.asin, record.stage, exc)
        stored = await engine.store.commit(rewound, token=lease.token, expected_run=record.run)
        return "rewound", stored
    if isinstance(exc, PermissionError):  # a retry cannot change who owns a folder: say whose
        folders = configured_folders(engine.settings)
        exc = await asyncio.to_thread(permission_error, folders, exc)  # it stats folders
    if isinstance(exc, PermanentError):
        await _commit_failure(engine, lease, record, exc, permanent=True)
        return "needs_attention", None
    # Transient, or a bug: retried until the budget runs out.
    delay = await _commit_failure(engine, lease, record, exc, permanent=False)
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


async def _commit_failure(
    engine: Engine[S], lease: Lease, record: Release, exc: BaseException, *, permanent: bool
) -> float | None:
    """Record a failure. Returns the retry delay, or None when the release needs a person."""
    stage = record.stage
    attempts = {**record.attempts, stage.value: record.attempts.get(stage.value, 0) + 1}
    tries = attempts[stage.value]
    message = explain(stage, exc)
    exhausted = tries >= engine.settings.max_attempts
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
            tries, base=engine.settings.retry_base_seconds, cap=engine.settings.retry_max_seconds
        )
        update.update(status=Status.RETRYING, next_attempt_at=utcnow() + timedelta(seconds=delay))
    failed = record.model_copy(update=update)
    await engine.store.commit(failed, token=lease.token, expected_run=record.run)
    await stats.record_failure(engine.redis, stage.value, type(exc).__name__)
    return delay


async def _requeue_on_cancel(engine: Engine[S], lease: Lease, record: Release) -> None:
    """SIGTERM: say the release is queued again (best effort) and spend no attempt."""
    queued = record.model_copy(update={"status": Status.QUEUED})
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            await asyncio.shield(
                engine.store.commit(queued, token=lease.token, expected_run=record.run)
            )
