"""A token bucket shared by every worker through Redis, with a shared pause.

Audnex allows 100 requests a minute per IP, and every worker of a pool shares
that IP, so the budget must be counted in one place: one Lua script refills
and takes a token atomically, using Redis's clock so that workers on hosts
with skewed clocks still agree. A 429 sets a pause key that every worker
honours before taking a token, so one server's "slow down" slows the pool.

`LocalTokenBucket` is the same thing for a single process (the `mamjson`
command without Redis).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol

from redis.asyncio import Redis

from mamfast.errors import AudnexUnavailableError

# KEYS: bucket hash, pause key. ARGV: refill rate (tokens per ms), capacity.
# Returns 0 when a token was taken, else the milliseconds to wait.
_TAKE = """
local paused = redis.call('pttl', KEYS[2])
if paused > 0 then return paused end
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local tokens = tonumber(redis.call('hget', KEYS[1], 'tokens') or ARGV[2])
local last = tonumber(redis.call('hget', KEYS[1], 'ts') or now)
tokens = math.min(cap, tokens + math.max(0, now - last) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('hset', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('pexpire', KEYS[1], math.ceil(cap / rate) + 1000)
return wait
"""


class RateLimiter(Protocol):
    async def try_take(self) -> float:
        """Take a token: 0.0 when granted, else the seconds to wait before asking again."""
        ...

    async def pause(self, seconds: float) -> None:
        """Make every user of this limiter wait `seconds` (a server said 429)."""
        ...


class RedisTokenBucket:
    """`per_minute` requests a minute on average, at most `burst` back to back."""

    def __init__(self, redis: Redis, key: str, pause_key: str, *, per_minute: float, burst: int):
        self._redis = redis
        self._key = key
        self._pause_key = pause_key
        self._rate_per_ms = per_minute / 60_000.0
        self._burst = max(1, burst)
        self._take = redis.register_script(_TAKE)

    async def try_take(self) -> float:
        wait_ms = await self._take(
            keys=[self._key, self._pause_key], args=[repr(self._rate_per_ms), self._burst]
        )
        return int(wait_ms) / 1000.0

    async def pause(self, seconds: float) -> None:
        # Keep the longer of two pauses: a short Retry-After must not cut a long one.
        ms = max(1, math.ceil(seconds * 1000))
        current = await self._redis.pttl(self._pause_key)
        if current is None or int(current) < ms:
            await self._redis.set(self._pause_key, "1", px=ms)


class LocalTokenBucket:
    """The same bucket for one process."""

    def __init__(self, *, per_minute: float, burst: int) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(max(1, burst))
        self._tokens = self._burst
        self._last = time.monotonic()
        self._paused_until = 0.0

    async def try_take(self) -> float:
        now = time.monotonic()
        if now < self._paused_until:
            return self._paused_until - now
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)


async def take(limiter: RateLimiter, *, max_wait: float, what: str = "Audnex") -> float:
    """Wait for a token; returns the seconds waited.

    A wait longer than `max_wait` (a long 429 pause, a crowded pool) is not
    spent holding a job slot: it becomes a retry-later with that delay.
    """
    waited = 0.0
    while True:
        wait = await limiter.try_take()
        if wait <= 0:
            return waited
        if waited + wait > max_wait:
            raise AudnexUnavailableError(
                f"{what} rate limit: the next request slot is {wait:.0f}s away",
                hint="requests are shared by all workers (MAMFAST_AUDNEX_RATE_PER_MINUTE); "
                "this release is retried later",
                retry_after=wait,
            )
        await asyncio.sleep(wait)
        waited += wait
