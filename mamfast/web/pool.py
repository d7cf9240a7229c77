"""The workers and queues panel: what Redis says about the pool right now.

Queue depths (arq's queue zsets), arq's per-queue health-check keys (one per host),
the workers' own heartbeats (`mamfast health` reads the same keys), jobs in progress,
and the shared Audnex breaker and rate-limit pause.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from redis.asyncio import Redis

from mamfast.display import printable
from mamfast.engine import keys
from mamfast.web.present import span
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
        "workers": await _heartbeats(redis, now_ms / 1000),
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


async def _heartbeats(redis: Redis, now: float) -> list[dict[str, Any]]:
    found = []
    async for key in redis.scan_iter(match=keys.WORKER_PREFIX + "*", count=SCAN_COUNT):
        raw, ttl = await redis.get(key), await redis.ttl(key)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        started = body.get("started")
        found.append(
            {
                "host": printable(str(body.get("host", "?"))),
                "pid": body.get("pid", "?"),
                "queue": keys.queue_label(str(body.get("queue", "?"))),
                "up": span(now - started) if isinstance(started, int | float) else "?",
                "expires_in": int(ttl) if ttl and ttl > 0 else 0,
            }
        )
    return sorted(found, key=lambda w: (w["queue"], w["host"], str(w["pid"])))


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
