"""Redis key names, in one place so `locks`, `status` and the docs agree.

Everything of ours lives under `mamfast:`; arq's own keys stay under the queue
names below (`mamfast:queue`, `mamfast:queue:hash`).
"""

from __future__ import annotations

import os

PREFIX = "mamfast:"
DEFAULT_QUEUE = "mamfast:queue"
HASH_QUEUE = "mamfast:queue:hash"
QUEUES = {"default": DEFAULT_QUEUE, "hash": HASH_QUEUE}

RELEASES = PREFIX + "releases"  # zset asin -> created (epoch s)
ACTIVE = PREFIX + "active"  # set of non-terminal asins (the reconciler's work list)
LOCK_PREFIX = PREFIX + "lock:"
SCAN_LOCK = LOCK_PREFIX + "scan"
RECONCILE_LOCK = LOCK_PREFIX + "reconcile"
RECONCILE_TICK = PREFIX + "reconcile:tick"  # one pass per interval across the pool
WORKER_PREFIX = PREFIX + "worker:"
EVENTS = PREFIX + "events"  # list of terminal transitions, drained by notifications
BATCHES = PREFIX + "batches"  # zset scan id -> time: releases submitted by one scan
NOTIFY_LOCK = LOCK_PREFIX + "notify"
LAST_SCAN = PREFIX + "scheduler:last_scan"
LIBATION_LOCK = LOCK_PREFIX + "libation"  # one MAMFAST_LIBATION_COMMAND at a time


def batch(scan_id: str) -> str:
    return f"{PREFIX}batch:{scan_id}"


def notify_outbox(url_id: str) -> str:
    """Messages not yet delivered to one notification URL (named by a hash of the URL)."""
    return f"{PREFIX}notify:outbox:{url_id}"


def release(asin: str) -> str:
    return f"{PREFIX}release:{asin}"


def fence(asin: str) -> str:
    return f"{PREFIX}fence:{asin}"


def release_lock(asin: str) -> str:
    return f"{LOCK_PREFIX}release:{asin}"


def infohash_lock(infohash: str) -> str:
    return f"{LOCK_PREFIX}infohash:{infohash}"


def infohash_owner(infohash: str) -> str:
    return f"{PREFIX}infohash:{infohash}"


def suspect(job_id: str) -> str:
    return f"{PREFIX}suspect:{job_id}"


def hostname() -> str:
    # In a container HOSTNAME is the container id, which the healthcheck shares.
    # socket is imported here: the command tree imports this module, `--help` included.
    import socket

    return os.environ.get("HOSTNAME") or socket.gethostname()


def worker(host: str, pid: int, queue: str) -> str:
    return f"{WORKER_PREFIX}{host}:{pid}:{queue_label(queue)}"


def arq_health(queue: str, host: str) -> str:
    return f"{PREFIX}health:{queue_label(queue)}:{host}"


def queue_label(queue: str) -> str:
    for label, name in QUEUES.items():
        if name == queue:
            return label
    return queue


# --- Audnex: shared by every worker so limits hold across the pool ---------------
AUDNEX_PREFIX = PREFIX + "audnex:"
AUDNEX_BUCKET = AUDNEX_PREFIX + "bucket"  # hash: token bucket (tokens, refilled-at ms)
AUDNEX_PAUSE = AUDNEX_PREFIX + "pause"  # string with a TTL: a 429 asked everyone to wait
AUDNEX_BREAKER = AUDNEX_PREFIX + "breaker"  # hash: failures, opened_at ms
AUDNEX_PROBE = AUDNEX_PREFIX + "probe"  # string with a TTL: the one half-open probe in flight


def audnex_cache(kind: str, asin: str, region: str) -> str:
    """Cached Audnex answer for one (asin, region); `kind` is `book` or `chapters`."""
    return f"{AUDNEX_PREFIX}cache:{kind}:{asin}:{region}"


PROGRESS_TTL = 3600  # a live view's progress outlives a crashed stage by an hour at most


def progress(asin: str) -> str:
    """Hash: the running stage's progress (stage, done, total) for live views."""
    return f"{PREFIX}progress:{asin}"


# --- Worker liveness and wake-ups (engine.liveness, workers.wakeup) ---------------
ALIVE = PREFIX + "alive"  # hash: worker id -> its last beat (JSON, for dashboards)
ALIVE_BEATS = PREFIX + "alive:beats"  # zset: worker id -> last beat, Redis clock (ms)
ALIVE_LEASES_PREFIX = PREFIX + "alive:leases:"
ALIVE_SWEPT = PREFIX + "alive:swept"  # when the last liveness sweep ran, Redis clock (ms)


def worker_leases(worker_id: str) -> str:
    """Hash: lock key -> the lease a worker holds on it (voided when the worker dies)."""
    return ALIVE_LEASES_PREFIX + worker_id


def wake(queue: str) -> str:
    """Pub/sub channel: a job was just queued on `queue`; its workers poll at once."""
    return f"{PREFIX}wake:{queue_label(queue)}"


def asin_of_release_lock(lock_key: str) -> str | None:
    """The ASIN a release lock key names, or None for any other lock."""
    prefix = release_lock("")
    return lock_key[len(prefix) :] if lock_key.startswith(prefix) else None


# --- Engine statistics for /metrics (engine.stats): fixed fields, never growing ------
STATS_PREFIX = PREFIX + "stats:"
STATS_FAILURES = STATS_PREFIX + "failures"  # hash: "{stage}:{error kind}" -> count
STATS_HASHED = STATS_PREFIX + "hashed_bytes"  # counter: bytes the torrent stage hashed
STATS_AUDNEX = STATS_PREFIX + "audnex"  # hash: rate-limit waits, their seconds, 429 pauses


def stats_stage(stage: str) -> str:
    """Hash: one stage's finished runs (sum of seconds, a count per bucket)."""
    return f"{STATS_PREFIX}stage:{stage}"
