"""A circuit breaker shared by every worker through Redis.

When a service is down, every worker hammering it only makes the outage
longer and every release wait for timeouts. After `threshold` failures in a
row the breaker opens: callers fail fast for `cooldown` seconds. Then it is
half-open: exactly one caller in the pool (the one that wins a short-lived
probe key) may try; its success closes the breaker, its failure opens it again.

State lives in one Redis hash so all workers see the same breaker; the clock is
Redis's. `LocalBreaker` is the single-process twin.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from redis.asyncio import Redis


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Permit:
    """The answer to "may I call?": `allowed`, and when refused, how long until a probe."""

    allowed: bool
    state: BreakerState
    retry_in: float = 0.0


_NOW = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: breaker hash, probe key. ARGV: cooldown ms, probe ttl ms.
# Returns {state, ms until a probe may run}.
_ALLOW = (
    _NOW
    + """
local opened = redis.call('hget', KEYS[1], 'opened_at')
if not opened then return {'closed', 0} end
local ready = tonumber(opened) + tonumber(ARGV[1])
if now < ready then return {'open', ready - now} end
if redis.call('set', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return {'half_open', 0} end
return {'open', math.max(1, redis.call('pttl', KEYS[2]))}
"""
)

# KEYS: breaker hash, probe key. ARGV: threshold. Returns the state after the failure.
_FAILURE = (
    _NOW
    + """
local failures = redis.call('hincrby', KEYS[1], 'failures', 1)
local opened = redis.call('hget', KEYS[1], 'opened_at')
redis.call('del', KEYS[2])
if opened or failures >= tonumber(ARGV[1]) then
  redis.call('hset', KEYS[1], 'opened_at', now)
  return 'open'
end
return 'closed'
"""
)


class Breaker(Protocol):
    async def allow(self) -> Permit: ...

    async def success(self) -> None: ...

    async def failure(self) -> BreakerState: ...

    async def state(self) -> BreakerState: ...


class RedisBreaker:
    def __init__(
        self,
        redis: Redis,
        key: str,
        probe_key: str,
        *,
        threshold: int = 5,
        cooldown: float = 60.0,
        probe_ttl: float = 30.0,
    ) -> None:
        self._redis = redis
        self._key = key
        self._probe_key = probe_key
        self._threshold = threshold
        self._cooldown_ms = int(cooldown * 1000)
        # The probe key expires by itself, so a prober that dies cannot wedge the breaker.
        self._probe_ttl_ms = int(probe_ttl * 1000)
        self._allow = redis.register_script(_ALLOW)
        self._failure = redis.register_script(_FAILURE)

    async def allow(self) -> Permit:
        raw_state, wait_ms = await self._allow(
            keys=[self._key, self._probe_key], args=[self._cooldown_ms, self._probe_ttl_ms]
        )
        state = BreakerState(_text(raw_state))
        return Permit(state is not BreakerState.OPEN, state, int(wait_ms) / 1000.0)

    async def success(self) -> None:
        await self._redis.delete(self._key, self._probe_key)

    async def failure(self) -> BreakerState:
        result = await self._failure(keys=[self._key, self._probe_key], args=[self._threshold])
        return BreakerState(_text(result))

    async def state(self) -> BreakerState:
        opened = await self._redis.hget(self._key, "opened_at")  # type: ignore[misc]
        if opened is None:
            return BreakerState.CLOSED
        ready = int(opened) + self._cooldown_ms
        now_s, now_us = await self._redis.time()
        now = int(now_s) * 1000 + int(now_us) // 1000
        return BreakerState.OPEN if now < ready else BreakerState.HALF_OPEN


class LocalBreaker:
    def __init__(
        self, *, threshold: int = 5, cooldown: float = 60.0, probe_ttl: float = 30.0
    ) -> None:
        self._threshold = threshold
        self._cooldown = cooldown
        self._failures = 0
        self._opened_at: float | None = None
        # Like the Redis probe key, a probe expires: its caller may never report
        # (cancelled, or stopped by the rate limiter after being let through).
        self._probe_ttl = probe_ttl
        self._probe_until: float | None = None

    async def allow(self) -> Permit:
        if self._opened_at is None:
            return Permit(True, BreakerState.CLOSED)
        ready = self._opened_at + self._cooldown
        now = time.monotonic()
        if now < ready:
            return Permit(False, BreakerState.OPEN, ready - now)
        if self._probe_until is not None and now < self._probe_until:
            return Permit(False, BreakerState.OPEN, self._probe_until - now)
        self._probe_until = now + self._probe_ttl
        return Permit(True, BreakerState.HALF_OPEN)

    async def success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_until = None

    async def failure(self) -> BreakerState:
        self._failures += 1
        self._probe_until = None
        if self._opened_at is not None or self._failures >= self._threshold:
            self._opened_at = time.monotonic()
            return BreakerState.OPEN
        return BreakerState.CLOSED

    async def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        ready = self._opened_at + self._cooldown
        return BreakerState.OPEN if time.monotonic() < ready else BreakerState.HALF_OPEN


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
