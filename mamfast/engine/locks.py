"""Redis leases: a TTL'd lock, renewed while held, with a fencing token.

A lease can always expire under a paused holder (GC, a frozen VM, a network
partition), so holding one is never proof of ownership by itself. Acquiring a
release lock also increments a per-release fence counter in the same Lua
script; the checkpoint store rejects writes that carry an older token. Leases
are renewed by a background task every TTL/3; if renewal finds the lease gone
`Lease.lost` is set, and work run through `guarded()` is cancelled.

The same mechanism, without a fence, backs the scan lock (the old run lock),
the infohash lock around qBittorrent adds, and the reconciler's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mamfast.engine import keys
from mamfast.errors import LockBusyError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


class LeaseLostError(TransientError):
    """The lease ran out under us; the work stopped and will be picked up again."""


# KEYS: lock, fence counter (or '' for none), the owner's lease registry (or '' for none).
# ARGV: value prefix, ttl ms. The registry entry is written in the same script as the
# lock, so a worker that dies can never hold a lease its liveness sweep does not know of.
_ACQUIRE = """
if redis.call('exists', KEYS[1]) == 1 then return false end
local token = 0
if KEYS[2] ~= '' then token = redis.call('incr', KEYS[2]) end
redis.call('set', KEYS[1], ARGV[1] .. token, 'PX', ARGV[2])
if KEYS[3] ~= '' then
  redis.call('hset', KEYS[3], KEYS[1], cjson.encode({value = ARGV[1] .. token, fence = KEYS[2]}))
end
return token
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
# KEYS: lock, the owner's lease registry (or ''). ARGV: the value this holder wrote.
_RELEASE = """
if KEYS[2] ~= '' then redis.call('hdel', KEYS[2], KEYS[1]) end
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def holder_info(purpose: str) -> dict[str, Any]:
    return {"host": keys.hostname(), "pid": os.getpid(), "purpose": purpose, "since": time.time()}


@dataclass
class Lease:
    """A held lock. `token` is the fencing token (0 for locks without a fence).

    `registry`: the lease registry of the worker holding it (`engine.liveness`), if any.
    """

    key: str
    value: str
    token: int
    ttl: float
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    registry: str = ""


async def try_acquire(
    redis: Redis,
    key: str,
    *,
    ttl: float,
    purpose: str,
    fence_key: str | None = None,
    owner: str | None = None,
) -> Lease | None:
    """Take the lock if free. `owner`: the worker id (`engine.liveness`) whose death voids it."""
    # The value carries who holds the lock (for `mamfast locks`) and ends with the token,
    # so renew/release compare the exact value this holder wrote.
    info = holder_info(purpose)
    if owner:
        info["worker"] = owner
    prefix = json.dumps(info, separators=(",", ":")) + "|"
    registry = keys.worker_leases(owner) if owner else ""
    script = redis.register_script(_ACQUIRE)  # EVALSHA: the script body is not resent
    token = await script(keys=[key, fence_key or "", registry], args=[prefix, int(ttl * 1000)])
    if token is None:
        return None
    return Lease(
        key=key, value=f"{prefix}{int(token)}", token=int(token), ttl=ttl, registry=registry
    )


async def acquire(
    redis: Redis,
    key: str,
    *,
    ttl: float,
    purpose: str,
    fence_key: str | None = None,
    wait: float = 0.0,
    owner: str | None = None,
) -> Lease:
    """Acquire or raise LockBusyError naming the holder; polls up to `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        lease = await try_acquire(
            redis, key, ttl=ttl, purpose=purpose, fence_key=fence_key, owner=owner
        )
        if lease is not None:
            return lease
        if time.monotonic() >= deadline:
            holder = await read_holder(redis, key)
            raise LockBusyError(f"{key} is held by {describe_holder(holder)}", holder=holder)
        await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


async def renew(redis: Redis, lease: Lease) -> bool:
    ok = await redis.register_script(_RENEW)(
        keys=[lease.key], args=[lease.value, int(lease.ttl * 1000)]
    )
    return bool(ok)


async def release(redis: Redis, lease: Lease) -> None:
    # A failed release must never turn finished work into a failure: the TTL cleans up.
    try:
        await redis.register_script(_RELEASE)(keys=[lease.key, lease.registry], args=[lease.value])
    except RedisError as exc:
        log.warning("could not release %s (%s); it expires in %.0fs", lease.key, exc, lease.ttl)


@contextlib.asynccontextmanager
async def held(
    redis: Redis,
    key: str,
    *,
    ttl: float,
    purpose: str,
    fence_key: str | None = None,
    wait: float = 0.0,
    owner: str | None = None,
) -> AsyncIterator[Lease]:
    """Hold a lease for the block and keep renewing it; `lease.lost` tells when it is gone."""
    lease = await acquire(
        redis, key, ttl=ttl, purpose=purpose, fence_key=fence_key, wait=wait, owner=owner
    )
    async with _renewing(redis, lease):
        yield lease


@contextlib.asynccontextmanager
async def held_if_free(
    redis: Redis, key: str, *, ttl: float, purpose: str
) -> AsyncIterator[Lease | None]:
    """Like `held`, but yields None at once when someone else holds the lock.

    For work one process at a time is enough for (a reconciler pass, a notification
    flush): skipping is right, and a short renewed lease means a holder killed
    mid-way blocks the next pass for one TTL, not for a long fixed expiry.
    """
    lease = await try_acquire(redis, key, ttl=ttl, purpose=purpose)
    if lease is None:
        yield None
        return
    async with _renewing(redis, lease):
        yield lease


@contextlib.asynccontextmanager
async def _renewing(redis: Redis, lease: Lease) -> AsyncIterator[None]:
    keeper = asyncio.create_task(_keep(redis, lease), name=f"renew {lease.key}")
    try:
        yield
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        await release(redis, lease)


async def guarded(lease: Lease, work: Coroutine[Any, Any, T]) -> T:
    """Run `work` while the lease holds; cancel it and raise LeaseLostError if it is lost."""
    task = asyncio.ensure_future(work)
    lost = asyncio.ensure_future(lease.lost.wait())
    try:
        await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise
    finally:
        lost.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    raise LeaseLostError(f"lost {lease.key} while working; another worker may take over")


async def _keep(redis: Redis, lease: Lease) -> None:
    interval = lease.ttl / 3
    deadline = time.monotonic() + lease.ttl
    while True:
        await asyncio.sleep(interval)
        try:
            if await renew(redis, lease):
                deadline = time.monotonic() + lease.ttl
                continue
            reason = "taken over or expired"
        except RedisError as exc:
            # Keep trying until the TTL would have run out; Redis may be restarting.
            if time.monotonic() < deadline:
                log.warning("renewing %s failed (%s); retrying", lease.key, exc)
                continue
            reason = f"Redis unreachable for {lease.ttl:.0f}s"
        log.error("lost lock %s (%s); stopping the work it protected", lease.key, reason)
        lease.lost.set()
        return


async def read_holder(redis: Redis, key: str) -> dict[str, Any]:
    raw = await redis.get(key)
    return parse_holder(raw)


def parse_holder(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    text = raw.decode() if isinstance(raw, bytes) else raw
    body, _, token = text.rpartition("|")
    try:
        info: dict[str, Any] = json.loads(body)
    except json.JSONDecodeError:
        return {"raw": text}
    info["token"] = int(token) if token.isdigit() else token
    return info


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder:
        return "nobody (it was just released)"
    if "raw" in holder:
        return f"an unknown holder ({holder['raw']!r})"
    since = datetime.fromtimestamp(float(holder.get("since", 0)), UTC)
    age = max(0.0, time.time() - float(holder.get("since", 0)))
    who = f"{holder.get('purpose', '?')} on host {holder.get('host', '?')}"
    return (
        f"{who} pid {holder.get('pid', '?')} since {since:%Y-%m-%d %H:%M:%S} UTC ({age:.0f}s ago)"
    )


async def list_locks(redis: Redis) -> list[dict[str, Any]]:
    """Every held lock with its holder and remaining TTL, for `mamfast locks`."""
    out = []
    async for raw_key in redis.scan_iter(match=keys.LOCK_PREFIX + "*", count=500):
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        async with redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            raw, pttl = await pipe.execute()
        if raw is None:
            continue
        holder = parse_holder(raw)
        holder.update(key=key, ttl=round(pttl / 1000, 1) if pttl and pttl > 0 else None)
        out.append(holder)
    return sorted(out, key=lambda h: str(h["key"]))


async def break_lock(redis: Redis, key: str) -> bool:
    if not key.startswith(keys.LOCK_PREFIX):
        key = keys.LOCK_PREFIX + key
    return bool(await redis.delete(key))
