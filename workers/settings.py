"""arq worker settings.

arq reads only a settings class's *own* attributes (inherited ones are
silently ignored), so each class below is built from one function and has all
of its attributes set directly. Both use the JSON serializer, a per-host health
key refreshed every 10 s, and arq retries high enough that only our own
attempt budget (`MAMFAST_MAX_ATTEMPTS`) decides when a release gives up.

    arq workers.settings.WorkerSettings            # stage, metadata, upload (+ the reconciler)
    arq workers.settings.HashWorkerSettings        # torrent hashing
    arq workers.settings.WorkerSettings --check    # health check

Run through arq's own CLI, a worker needs MAMFAST_REDIS_URL or a private Redis that
another mamfast process keeps running; `mamfast worker` starts the private one itself.
"""

from __future__ import annotations

from typing import Any

from arq import cron, func
from arq.connections import RedisSettings
from arq.worker import Worker

from mamfast.config import Settings, load_settings
from mamfast.engine import keys, serializer
from mamfast.engine.connections import redis_settings
from mamfast.ops import libation
from mamfast.ops.embedded import redis_url_for
from workers import jobs
from workers.wakeup import WakingWorker

HEALTH_CHECK_INTERVAL = 10
# Workers are woken by a message when a job is queued (workers.wakeup); the poll is
# only the safety net (deferred retries coming due, a lost message), so it can be slow.
POLL_DELAY = 1.0
ARQ_CLI_POLL = 0.1  # `arq workers.settings.WorkerSettings`: no wake-ups, so the old poll
ARQ_MAX_TRIES = 10_000  # cancellations and lock waits are not failures; we count our own


def worker_options(settings: Settings, queue: str) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker` serving `queue`."""
    is_hash = queue == keys.HASH_QUEUE
    stage_timeout = settings.hash_timeout if is_hash else settings.stage_timeout
    options: dict[str, Any] = {
        "functions": [
            func(
                jobs.run_stage,
                name="run_stage",
                timeout=stage_timeout + 60,
                max_tries=ARQ_MAX_TRIES,
            )
        ],
        "queue_name": queue,
        "redis_settings": worker_redis_settings(settings),
        "on_startup": jobs.startup,
        "on_shutdown": jobs.shutdown,
        "job_serializer": serializer.dumps,
        "job_deserializer": serializer.loads,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "health_check_key": keys.arq_health(queue, keys.hostname()),
        "max_jobs": settings.hash_jobs if is_hash else settings.worker_jobs,
        "max_tries": ARQ_MAX_TRIES,
        "keep_result": 0,  # our record is the result; a kept result would block re-enqueue
        "expires_extra_ms": 30 * 24 * 3600 * 1000,
        "poll_delay": POLL_DELAY,
        "ctx": {"settings": settings, "queue": queue},
    }
    if not is_hash:
        # The reconciler is not a cron job: it runs beside arq (jobs._reconciler).
        options["cron_jobs"] = [
            cron(
                jobs.scheduled_scan,
                name="scan",
                second={30},
                run_at_startup=True,
                unique=True,
                timeout=1800 + libation.time_needed(settings),
                keep_result=0,
                max_tries=1,
            ),
            cron(
                jobs.flush_notifications,
                name="notify",
                second={15, 45},
                unique=True,
                timeout=120,
                keep_result=0,
                max_tries=1,
            ),
        ]
    return options


def worker_redis_settings(settings: Settings) -> RedisSettings:
    # Never fall back to arq's localhost:6379: without a URL we mean the private Redis.
    return redis_settings(redis_url_for(settings))


def build_worker(
    settings: Settings,
    queue: str,
    *,
    burst: bool = False,
    stages: Any = None,
    handle_signals: bool = True,
) -> Worker:
    options = worker_options(settings, queue)
    if stages is not None:
        options["ctx"]["stages"] = stages
    return WakingWorker(**options, burst=burst, handle_signals=handle_signals)


_CLASSES = {"WorkerSettings": keys.DEFAULT_QUEUE, "HashWorkerSettings": keys.HASH_QUEUE}


def __getattr__(name: str) -> type:
    # Built on first access (by the arq CLI), not at import: importing this module
    # must not read the environment, and each class gets its own attributes.
    if name in _CLASSES:
        # arq's own CLI runs a plain Worker, which no message wakes: it polls fast.
        options = {**worker_options(load_settings(), _CLASSES[name]), "poll_delay": ARQ_CLI_POLL}
        return type(name, (), options)
    raise AttributeError(name)
