"""Worker liveness: a heartbeat per worker, and the sweep that voids a dead worker's leases.

A release lock outlives its holder by up to one lease TTL, and the reconciler then
waits two passes before it trusts that a job is dead: half a minute and more before
a killed worker's release moves again. Here each worker beats every `BEAT_SECONDS`
and registers every lease it takes (in the lock's own acquire script, `engine.locks`).
A worker whose beat is older than `DEAD_AFTER` (by Redis's clock, so hosts' clocks do
not matter) is dead: one script deletes its locks that still carry its exact value and
bumps their fence counters, so the release can be re-dispatched at once.

Fencing is as strong as before: a paused worker (SIGSTOP, a frozen VM) that wakes up
holds a token older than the bumped fence, so its commit is refused; its renewal finds
the lock gone and cancels the work. A worker whose event loop stalls past `DEAD_AFTER`
is treated the same way: its work is redone elsewhere, never committed twice.

The beat also carries what a dashboard shows: host, pid, queues, jobs running
(`workers()` reads them back).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from mamfast.engine import keys

log = logging.getLogger(__name__)

BEAT_SECONDS = 1.0
# Five missed beats: a loaded machine's event loop can stall a second or two, and a
# worker wrongly declared dead costs a redone stage, never a wrong commit.
DEAD_AFTER = 5.0

# KEYS: alive hash, beats zset. ARGV: worker id, beat JSON, '1' if it changed.
# The beat time is the zset score; the JSON is written only when it changed or the
# worker is new to the zset (first beat, or back after being swept), to keep an idle
# pool's Redis load low.
_BEAT = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('zadd', KEYS[2], now, ARGV[1]) == 1 or ARGV[3] == '1' then
  redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
end
return now
"""

# KEYS: alive hash, beats zset, last sweep time. ARGV: dead after (ms), lease registry
# prefix. Returns {dead worker ids, voided lock keys}. The registry and lock keys are
# derived inside the script (a single Redis, never a cluster): the whole sweep is
# one atomic step, so two sweepers can never void the same lease twice.
# After a gap in sweeping longer than `dead after` (Redis was down, or no worker was
# sweeping) nobody could beat or nobody was looking: every worker gets a fresh window
# to beat again rather than being declared dead for the outage.
_SWEEP = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('get', KEYS[3]) or '0')
redis.call('set', KEYS[3], now)
if now - last > tonumber(ARGV[1]) then
  local ids = redis.call('zrange', KEYS[2], 0, -1)
  for _, id in ipairs(ids) do redis.call('zadd', KEYS[2], 'GT', now, id) end
  return {{}, {}}
end
local dead = redis.call('zrangebyscore', KEYS[2], '-inf', now - tonumber(ARGV[1]))
local voided = {}
for _, id in ipairs(dead) do
  local registry = ARGV[2] .. id
  local held = redis.call('hgetall', registry)
  for i = 1, #held, 2 do
    local lease = cjson.decode(held[i + 1])
    if redis.call('get', held[i]) == lease.value then
      redis.call('del', held[i])
      if lease.fence ~= '' then redis.call('incr', lease.fence) end
      table.insert(voided, held[i])
    end
  end
  redis.call('del', registry)
  redis.call('hdel', KEYS[1], id)
  redis.call('zrem', KEYS[2], id)
end
return {dead, voided}
"""


class WorkerBeat(BaseModel):
    """One worker's last heartbeat, as a dashboard lists it."""

    id: str
    host: str
    pid: int
    queues: list[str]
    started_at: float  # epoch seconds
    beat_at: float = 0.0  # epoch seconds of the last beat (Redis's clock, from the zset)
    jobs: list[str] = []  # arq job ids running now

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.beat_at)


@dataclass
class Sweep:
    dead: list[str] = field(default_factory=list)  # worker ids found dead (and removed)
    voided: list[str] = field(default_factory=list)  # lock keys freed (fences bumped)


def new_worker_id(queues: list[str]) -> str:
    # host:pid alone repeats (pid 1 in every container restart); the suffix never does.
    labels = "+".join(keys.queue_label(q) for q in queues)
    return f"{keys.hostname()}:{os.getpid()}:{labels}:{secrets.token_hex(4)}"


@dataclass
class Liveness:
    """One worker's heartbeat; `id` is the `owner` its leases are taken under."""

    redis: Redis
    queues: list[str]
    id: str = ""
    jobs: set[str] = field(default_factory=set)
    started_at: float = field(default_factory=time.time)
    every: float = BEAT_SECONDS
    _sent: str = ""
    _beat: AsyncScript = field(init=False, repr=False)  # registered once, not per beat

    def __post_init__(self) -> None:
        self.id = self.id or new_worker_id(self.queues)
        self._beat = self.redis.register_script(_BEAT)

    def beat_body(self) -> WorkerBeat:
        return WorkerBeat(
            id=self.id,
            host=keys.hostname(),
            pid=os.getpid(),
            queues=[keys.queue_label(q) for q in self.queues],
            started_at=self.started_at,
            jobs=sorted(self.jobs),
        )

    async def beat(self) -> None:
        body = self.beat_body().model_dump_json(exclude={"beat_at"})
        changed = "1" if body != self._sent else "0"
        await self._beat(keys=[keys.ALIVE, keys.ALIVE_BEATS], args=[self.id, body, changed])
        self._sent = body

    async def run(self) -> None:
        """Beat until cancelled; a failed beat is logged and the next one tries again."""
        while True:
            try:
                await self.beat()
            except (RedisError, OSError) as exc:  # Redis restarting: the sweep waits for us
                log.warning("liveness beat failed: %s", exc)
            await asyncio.sleep(self.every)

    async def leave(self) -> None:
        """A clean stop: no longer listed. Its leases were released by their holders."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.ALIVE, self.id)
            pipe.zrem(keys.ALIVE_BEATS, self.id)
            pipe.delete(keys.worker_leases(self.id))
            await pipe.execute()


async def sweep(redis: Redis, *, dead_after: float = DEAD_AFTER) -> Sweep:
    """Remove workers whose beat is older than `dead_after`; void the leases they held."""
    dead, voided = await redis.register_script(_SWEEP)(
        keys=[keys.ALIVE, keys.ALIVE_BEATS, keys.ALIVE_SWEPT],
        args=[int(dead_after * 1000), keys.ALIVE_LEASES_PREFIX],
    )
    found = Sweep(dead=[_text(d) for d in dead], voided=[_text(v) for v in voided])
    if found.dead:
        log.warning(
            "workers stopped beating: %s; their leases voided: %s",
            ", ".join(found.dead),
            ", ".join(found.voided) or "none",
        )
    return found


async def workers(redis: Redis) -> list[WorkerBeat]:
    """Every worker that beat recently, oldest start first (an unreadable beat is skipped)."""
    beats = {
        _text(k): float(v) / 1000
        for k, v in await redis.zrange(keys.ALIVE_BEATS, 0, -1, withscores=True)
    }
    out = []
    for raw in (await redis.hgetall(keys.ALIVE)).values():  # type: ignore[misc]
        try:
            beat = WorkerBeat.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as exc:
            log.warning("skipping an unreadable worker beat (%s)", exc)
            continue
        if beat.id in beats:  # else swept just now
            out.append(beat.model_copy(update={"beat_at": beats[beat.id]}))
    return sorted(out, key=lambda w: (w.started_at, w.id))


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
