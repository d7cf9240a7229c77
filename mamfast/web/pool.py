"""The workers and queues panel: what Redis says about the pool right now.

Queue depths (arq's queue zsets), arq's per-queue health-check keys (one per host),
each worker's liveness beat (`engine.liveness.workers`: host, pid, queues, last beat,
the jobs it runs), jobs in progress, and the shared Audnex breaker and rate-limit pause.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis

from mamfast.clients.audnex.client import RetryPolicy
from mamfast.clients.breaker import BreakerState, RedisBreaker
from mamfast.display import printable, span
from mamfast.engine import keys, liveness

ARQ_IN_PROGRESS = in_progress_key_prefix + "*"
SCAN_COUNT = 200
# The panel SCANs the keyspace; its figures move once a second at most (the beats),
# so every open page's 0.5 s tick need not read them again.
FRESH_FOR = 2.0


class PoolView:
    """The panel's data, read at most once per FRESH_FOR seconds however many pages ask."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._last: dict[str, Any] | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def current(self) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            if self._last is None or now - self._read_at > FRESH_FOR:
                self._last = await snapshot(self._redis)
                self._read_at = now
            return self._last


async def snapshot(redis: Redis) -> dict[str, Any]:
    """Everything the panel shows, as plain data (JSON for its live event)."""
    now_s, now_us = await redis.time()
    now_ms = int(now_s) * 1000 + int(now_us) // 1000
    return {
        "queues": await _queues(redis),
        "health": await _arq_health(redis),
        "workers": await _workers(redis, now_ms / 1000),
        "in_progress": await _count(redis, ARQ_IN_PROGRESS),
        "audnex": await _audnex(redis, now_ms),
    }


async def queue_depths(redis: Redis) -> dict[str, int]:
    """Jobs waiting per queue label (one round trip); the panel and /metrics read it."""
    async with redis.pipeline(transaction=False) as pipe:
        for queue in keys.QUEUES.values():
            pipe.zcard(queue)
        depths = await pipe.execute()
    return {label: int(n) for label, n in zip(keys.QUEUES, depths, strict=True)}


def audnex_breaker(redis: Redis) -> RedisBreaker:
    """The workers' shared Audnex breaker with their cooldown, read only (`state()` writes
    nothing); the panel and /metrics read it."""
    policy = RetryPolicy()
    return RedisBreaker(
        redis, keys.AUDNEX_BREAKER, keys.AUDNEX_PROBE, cooldown=policy.breaker_cooldown
    )


async def _queues(redis: Redis) -> list[dict[str, Any]]:
    depths = await queue_depths(redis)
    return [
        {"name": label, "key": name, "depth": depths[label]} for label, name in keys.QUEUES.items()
    ]


async def _arq_health(redis: Redis) -> list[dict[str, str]]:
    found = []
    async for key in redis.scan_iter(match=keys.PREFIX + "health:*", count=SCAN_COUNT):
        value = await redis.get(key)
        name = _text(key)[len(keys.PREFIX + "health:") :]
        queue, _, host = name.partition(":")
        found.append({"queue": queue, "host": host, "status": _text(value or b"(expired)")})
    return sorted(found, key=lambda h: (h["queue"], h["host"]))


async def _workers(redis: Redis, now: float) -> list[dict[str, Any]]:
    """Every worker's liveness beat (`engine.liveness`): host, pid, queues, last beat and
    the jobs it runs. `now` is Redis's clock, the one the beats are timed by."""
    found = []
    for beat in await liveness.workers(redis):
        silent = max(0.0, now - beat.beat_at)
        jobs = [_job(job) for job in beat.jobs]
        queues = ", ".join(printable(q) for q in beat.queues) or "?"
        host = printable(beat.host)
        text = (
            f"{queues} · {host} pid {beat.pid} · up {span(now - beat.started_at)}"
            f" · last beat {span(silent)} ago · {len(jobs)} job(s) running"
            + (f": {', '.join(jobs)}" if jobs else "")
        )
        if silent > liveness.DEAD_AFTER:
            text += " · silent: its leases are freed at the next sweep"
        found.append(
            {
                "host": host,
                "pid": beat.pid,
                "queues": queues,
                "beat_ago": int(silent),  # whole seconds: the live event changes once a second
                "jobs": jobs,
                "text": text,
            }
        )
    return found


def _job(job_id: str) -> str:
    """`B0ABCDEFGH torrent` for mamfast's own job ids (`models.job_id_for`)."""
    prefix, _, rest = job_id.partition(":")
    asin, _, tail = rest.partition(":")
    stage = tail.partition(":")[0]
    return printable(f"{asin} {stage}" if prefix == "mamfast" and stage else job_id)


async def _count(redis: Redis, pattern: str) -> int:
    return sum([1 async for _ in redis.scan_iter(match=pattern, count=SCAN_COUNT)])


async def _audnex(redis: Redis, now_ms: int) -> dict[str, Any]:
    breaker = audnex_breaker(redis)
    state = await breaker.state()
    failures = int(await redis.hget(keys.AUDNEX_BREAKER, "failures") or 0)  # type: ignore[misc]
    if state is BreakerState.CLOSED:
        text = "closed: Audnex answers" + (f" ({failures} recent failure(s))" if failures else "")
    elif state is BreakerState.OPEN:
        opened = int(await redis.hget(keys.AUDNEX_BREAKER, "opened_at") or now_ms)  # type: ignore[misc]
        wait = (opened + int(RetryPolicy().breaker_cooldown * 1000) - now_ms) // 1000
        text = f"open: Audnex failed {failures} time(s) in a row; lookups wait about {wait}s"
    else:
        text = "half open: one lookup is trying Audnex again"
    pause_ms = int(await redis.pttl(keys.AUDNEX_PAUSE))
    pause = f"Audnex asked us to slow down: {pause_ms // 1000}s left" if pause_ms > 0 else ""
    return {"state": state.value, "text": text, "pause": pause}


def _text(value: bytes | str) -> str:
    return printable(value.decode(errors="replace") if isinstance(value, bytes) else value)
