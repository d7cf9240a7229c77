"""Enqueueing a release's current job: the job id is a pure function of the record."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from arq.connections import ArqRedis

from mamfast.engine import keys
from mamfast.engine.engine import Engine
from mamfast.engine.spec import Pipeline, S, queue_for
from mamfast.models import (
    Release,
    Stage,
    Status,
    utcnow,
)

log = logging.getLogger(__name__)

JOB_FUNCTION = "run_stage"
JOB_EXPIRES = timedelta(days=30)  # arq drops jobs not started by then; the reconciler re-adds


async def dispatch(redis: ArqRedis, stages: Pipeline[S], release: Release) -> bool:
    """Enqueue the release's current job. False when arq already has that id (fine)."""
    if release.terminal or release.stage is Stage.DONE:
        return False
    defer = release.next_attempt_at if release.status is Status.RETRYING else None
    deferred = defer is not None and defer > utcnow()
    queue = queue_for(stages, release.stage)
    job = await redis.enqueue_job(
        JOB_FUNCTION,
        release.asin,
        release.stage.value,
        _job_id=release.job_id,
        _queue_name=queue,
        _defer_until=defer if deferred else None,
        _expires=JOB_EXPIRES,
    )
    if job is not None and not deferred:
        # Workers listening (workers.wakeup) look at once instead of at their next poll.
        await redis.publish(keys.wake(queue), release.job_id)
    return job is not None


@dataclass
class SubmitOutcome:
    release: Release
    created: bool
    enqueued: bool


async def submit(engine: Engine[S], release: Release) -> SubmitOutcome:
    """Create the record if new and make sure its current job is queued."""
    stored, created = await engine.store.create(release)
    enqueued = False
    if not stored.terminal:
        enqueued = await dispatch(engine.redis, engine.stages, stored)
    return SubmitOutcome(stored, created, enqueued)
