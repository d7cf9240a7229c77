"""Engine statistics for `/metrics`: stage durations, failures, bytes hashed, Audnex waits.

Counted in Redis, so every worker of a pool adds to the same figures and a scrape sees
them all, whichever process serves it. Each key has a fixed set of fields (one per
duration bucket, one per stage and error class, a few counters), so they never grow
with the number of releases or jobs. A finished stage run costs one round trip of two
commands (three when it hashed: `record_run`); a failure one command. Best effort: the
release record is the truth, and a statistic that cannot be written never fails a job.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.exceptions import RedisError

from mamfast.engine import keys

log = logging.getLogger(__name__)

# Seconds. Stages take milliseconds (metadata from cache) to many minutes (hashing a
# large book on a slow disk); Prometheus adds +Inf.
DURATION_BUCKETS: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
)  # fmt: skip
SECONDS = "seconds"
WAITS, WAIT_SECONDS, PAUSES = "limit_waits", "limit_wait_seconds", "pauses_429"


def bucket_field(seconds: float) -> str:
    """The field of the smallest bucket holding `seconds` (`le:+Inf` past the last)."""
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            return f"le:{bound:g}"
    return "le:+Inf"


async def record_run(redis: Redis, stage: str, seconds: float, *, hashed_bytes: int = 0) -> None:
    """A stage run that finished and was committed: its duration (and bytes it hashed)."""
    key = keys.stats_stage(stage)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hincrbyfloat(key, SECONDS, round(seconds, 6))
            pipe.hincrby(key, bucket_field(seconds), 1)
            if hashed_bytes > 0:
                pipe.incrby(keys.STATS_HASHED, hashed_bytes)
            await pipe.execute()
    except RedisError as exc:
        log.debug("stage statistics not recorded: %s", exc)


async def record_failure(redis: Redis, stage: str, kind: str) -> None:
    """A stage run that failed; `kind` is the error's class name (a fixed set in the code)."""
    try:
        await redis.hincrby(keys.STATS_FAILURES, f"{stage}:{kind}", 1)  # type: ignore[misc]
    except RedisError as exc:
        log.debug("failure statistics not recorded: %s", exc)


async def record_limit_wait(redis: Redis, seconds: float) -> None:
    """A request waited for the shared Audnex rate limit."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(keys.STATS_AUDNEX, WAITS, 1)
            pipe.hincrbyfloat(keys.STATS_AUDNEX, WAIT_SECONDS, round(seconds, 6))
            await pipe.execute()
    except RedisError as exc:
        log.debug("rate-limit statistics not recorded: %s", exc)


async def record_pause(redis: Redis) -> None:
    """Audnex answered 429 and paused every worker."""
    try:
        await redis.hincrby(keys.STATS_AUDNEX, PAUSES, 1)  # type: ignore[misc]
    except RedisError as exc:
        log.debug("rate-limit statistics not recorded: %s", exc)


class Durations(BaseModel):
    """One stage's finished runs: cumulative bucket counts as Prometheus wants them (the
    `+Inf` one is the number of runs)."""

    seconds: float = 0.0
    buckets: list[tuple[str, int]] = Field(default_factory=list)  # (le, cumulative count)


class Stats(BaseModel):
    durations: dict[str, Durations] = Field(default_factory=dict)  # by stage
    failures: dict[tuple[str, str], int] = Field(default_factory=dict)  # (stage, kind)
    hashed_bytes: int = 0
    limit_waits: int = 0
    limit_wait_seconds: float = 0.0
    pauses_429: int = 0


async def read_stats(redis: Redis, stages: Iterable[str]) -> Stats:
    """Everything recorded, in one round trip."""
    stages = list(stages)
    async with redis.pipeline(transaction=False) as pipe:
        for stage in stages:
            pipe.hgetall(keys.stats_stage(stage))
        pipe.hgetall(keys.STATS_FAILURES)
        pipe.get(keys.STATS_HASHED)
        pipe.hgetall(keys.STATS_AUDNEX)
        replies = await pipe.execute()
    *per_stage, failures, hashed, audnex = replies
    audnex = _text_map(audnex)
    return Stats(
        durations={s: _durations(_text_map(raw)) for s, raw in zip(stages, per_stage, strict=True)},
        failures={_failure_key(k): int(v) for k, v in _text_map(failures).items()},
        hashed_bytes=int(hashed or 0),
        limit_waits=int(audnex.get(WAITS, 0)),
        limit_wait_seconds=float(audnex.get(WAIT_SECONDS, 0.0)),
        pauses_429=int(audnex.get(PAUSES, 0)),
    )


def _durations(raw: dict[str, str]) -> Durations:
    running = 0
    buckets = []
    for bound in (*DURATION_BUCKETS, math.inf):
        le = "+Inf" if bound == math.inf else f"{bound:g}"
        running += int(raw.get(f"le:{le}", 0))
        buckets.append((le, running))
    return Durations(seconds=float(raw.get(SECONDS, 0.0)), buckets=buckets)


def _failure_key(field: str) -> tuple[str, str]:
    stage, _, kind = field.partition(":")
    return stage, kind or "unknown"


def _text_map(raw: dict[bytes | str, bytes | str] | None) -> dict[str, str]:
    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    return {text(k): text(v) for k, v in (raw or {}).items()}
