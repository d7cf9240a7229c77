"""The arq job functions and worker hooks: thin wrappers around `mamfast.engine`.

Hooks never let an exception escape once the worker is running (arq would die
in its poll loop); startup may fail, and should, on a bad setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable
from typing import Any

from redis.exceptions import RedisError

from mamfast.clients import notify
from mamfast.config import load_settings
from mamfast.engine import keys
from mamfast.engine.connections import check_version
from mamfast.engine.engine import Engine
from mamfast.engine.liveness import Liveness
from mamfast.engine.reconcile import reconcile, sweep_dead_workers
from mamfast.engine.stage_job import run_stage as run_stage_job
from mamfast.fs.owner import apply_umask
from mamfast.ops.embedded import redis_url_for
from mamfast.stages.services import Services, open_services

log = logging.getLogger("mamfast.worker")

HEARTBEAT_SECONDS = 5
HEARTBEAT_TTL = 15
SWEEP_SECONDS = 1.0  # dead workers' releases move within DEAD_AFTER + this


async def startup(ctx: dict[str, Any]) -> None:
    settings = ctx.get("settings") or load_settings()
    apply_umask(settings)  # outside Docker no entry point script sets it
    # Refuse a Redis too old for our commands now, not mid-way in the first reconciler pass.
    await check_version(ctx["redis"], redis_url_for(settings))
    stages = ctx.get("stages")
    if stages is None:
        from mamfast.stages import default_pipeline

        stages = default_pipeline(settings)
    services = await open_services(settings, ctx["redis"], stages)
    ctx["services"] = services
    queue = ctx.get("queue", keys.DEFAULT_QUEUE)
    engine = services.engine
    # Beat before the first job: leases are taken under this id from now on.
    alive = Liveness(engine.redis, [queue])
    await alive.beat()
    engine.worker_id = alive.id
    ctx["liveness"] = alive
    tasks = [
        asyncio.create_task(_heartbeat(engine, queue), name="mamfast heartbeat"),
        asyncio.create_task(alive.run(), name="mamfast liveness"),
    ]
    if queue == keys.DEFAULT_QUEUE:
        await _check_filesystems(engine)
        tasks.append(asyncio.create_task(_reconciler(engine), name="mamfast reconciler"))
    ctx["_tasks"] = tasks


async def _check_filesystems(engine: Engine[Services]) -> None:
    """Say at start, once, that hardlinks cannot work (staging also checks every link)."""
    from mamfast.stages.staging import check_same_filesystem

    problem = await asyncio.to_thread(check_same_filesystem, engine.settings)
    if problem and engine.settings.stage_copy_fallback:
        log.warning("%s; MAMFAST_STAGE_COPY_FALLBACK is on, so staging will copy", problem)
    elif problem:
        log.error("%s; every release will stop at the stage step until this is fixed", problem)


async def shutdown(ctx: dict[str, Any]) -> None:
    for task in ctx.pop("_tasks", []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    services: Services | None = ctx.get("services")
    if services is not None:
        with contextlib.suppress(Exception):
            await services.redis.delete(_worker_key(ctx.get("queue", keys.DEFAULT_QUEUE)))
        alive: Liveness | None = ctx.get("liveness")
        if alive is not None:
            with contextlib.suppress(Exception):
                await alive.leave()
        await services.close()


async def run_stage(ctx: dict[str, Any], asin: str, stage: str) -> str:
    services: Services = ctx["services"]
    alive: Liveness = ctx["liveness"]
    alive.jobs.add(ctx["job_id"])  # shown on the next beat
    try:
        return await run_stage_job(services.engine, services, asin, stage, ctx["job_id"])
    finally:
        alive.jobs.discard(ctx["job_id"])


async def flush_notifications(ctx: dict[str, Any]) -> str:
    async def work() -> str:
        results = await notify.flush(ctx["services"].engine)
        return f"sent={sum(r.ok for r in results)} failed={sum(not r.ok for r in results)}"

    return await _cron("sending notifications", work())


async def scheduled_scan(ctx: dict[str, Any]) -> str:
    """The scheduler as an arq cron: scans when one is due (also after downtime)."""
    from mamfast.ops import scheduler

    async def work() -> str:
        report = await scheduler.scan_if_due(ctx["services"].engine)
        return "not due" if report is None else f"new={report.new}"

    return await _cron("scheduled scan", work())


async def _cron(what: str, work: Awaitable[str]) -> str:
    """A cron failure is logged, never raised: an exception would take the worker down."""
    try:
        return await work
    except Exception:
        log.exception("%s failed; the next pass will try again", what)
        return "failed"


def _worker_key(queue: str) -> str:
    return keys.worker(keys.hostname(), os.getpid(), queue)


async def _reconciler(engine: Engine[Services]) -> None:
    """A dead-worker sweep every second; a reconciler pass every MAMFAST_RECONCILE_SECONDS
    (one per interval across the pool).

    It runs beside arq, not as an arq cron job: cron jobs wait in the queue like any
    other, so a queue whose head is held by dead workers' jobs would hold up the very
    pass that clears it.
    """
    interval = engine.settings.reconcile_seconds
    next_pass = 0.0
    while True:
        try:
            await sweep_dead_workers(engine)
            if time.monotonic() >= next_pass:
                next_pass = time.monotonic() + interval
                if await engine.redis.set(
                    keys.RECONCILE_TICK, os.getpid(), nx=True, px=interval * 1000
                ):
                    await reconcile(engine)
        except (RedisError, OSError) as exc:  # Redis restarting: the next pass will tell
            log.warning("reconciler pass skipped: %s", exc)
        except Exception:
            log.exception("reconciler pass failed; the next one tries again")
        await asyncio.sleep(SWEEP_SECONDS)


async def _heartbeat(engine: Engine[Services], queue: str) -> None:
    """Per-process liveness (`mamfast health`), independent of arq's per-queue key."""
    key = _worker_key(queue)
    started = time.time()
    while True:
        body = {"host": keys.hostname(), "pid": os.getpid(), "queue": queue, "started": started}
        try:
            await engine.redis.set(key, json.dumps(body), ex=HEARTBEAT_TTL)
        except Exception as exc:  # Redis restarting: the next beat will tell
            log.warning("heartbeat failed: %s", exc)
        await asyncio.sleep(HEARTBEAT_SECONDS)
