"""The workers and queues panel: what Redis says about the pool right now.

Queue depths (arq's queue zsets), arq's per-queue health-check keys (one per host),
each worker's liveness beat (`engine.liveness.workers`: host, pid, queues, last beat,
the jobs it runs), jobs in progress, and the shared Audnex breaker and rate-limit pause.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import Redis

from mamfast.display import printable, span
from mamfast.engine import keys, liveness
from mamfast.web.reading import FRESH_FOR

ARQ_IN_PROGRESS = "arq:in-progress:*"
SCAN_COUNT = 200
BREAKER_COOLDOWN_MS = 60_000  # AudnexClient's default policy: after it, one probe may try


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


async def _queues(redis: Redis) -> list[dict[str, Any]]:
    return [
        {"name": label, "key": name, "depth": int(await redis.zcard(name))}
        for label, name in keys.QUEUES.items()
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
    breaker = await redis.hgetall(keys.AUDNEX_BREAKER)  # type: ignore[misc]
    failures = int(breaker.get(b"failures", 0))
    opened = breaker.get(b"opened_at")
    if opened is None:
        state = "closed"
        text = "closed: Audnex answers" + (f" ({failures} recent failure(s))" if failures else "")
    elif now_ms < int(opened) + BREAKER_COOLDOWN_MS:
        state = "open"
        wait = (int(opened) + BREAKER_COOLDOWN_MS - now_ms) // 1000
        text = f"open: Audnex failed {failures} time(s) in a row; lookups wait about {wait}s"
    else:
        state = "half_open"
        text = "half open: one lookup is trying Audnex again"
    pause_ms = int(await redis.pttl(keys.AUDNEX_PAUSE))
    pause = f"Audnex asked us to slow down: {pause_ms // 1000}s left" if pause_ms > 0 else ""
    return {"state": state, "text": text, "pause": pause}


def _text(value: bytes | str) -> str:
    return printable(value.decode(errors="replace") if isinstance(value, bytes) else value)
