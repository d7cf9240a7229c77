"""`GET /metrics` (Prometheus text format) and `GET /healthz`, for any aiohttp app.

Every figure is read from Redis at scrape time into a registry made for that request:
Redis is where the pool's state lives, so any process serving the page sees every
worker's work, and nothing is kept in this process (no module-level registry). What is
exposed is counts, durations and states: never a title, path, URL or secret.

| metric | what |
|---|---|
| `mamfast_releases{stage,status}` | releases by the stage they are at and their status |
| `mamfast_stage_duration_seconds{stage}` | finished stage runs (histogram) |
| `mamfast_stage_failures_total{stage,kind}` | failed stage runs by error class |
| `mamfast_hashed_bytes_total` | bytes the torrent stage read and hashed |
| `mamfast_queue_depth{queue}` | jobs waiting in each arq queue |
| `mamfast_audnex_breaker_state{state}` | 1 for the shared breaker's state, 0 for the others |
| `mamfast_audnex_rate_limit_waits_total` | Audnex requests that waited for the rate limit |
| `mamfast_audnex_rate_limit_wait_seconds_total` | the seconds they waited |
| `mamfast_audnex_rate_limit_pauses_total` | 429 answers, each pausing every worker |
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import RedisError

from mamfast.clients.breaker import BreakerState
from mamfast.engine import keys, stats
from mamfast.engine.engine import Engine
from mamfast.models import STAGE_ORDER, Stage, Status
from mamfast.redact import scrub
from mamfast.web import pool

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HEALTH_TIMEOUT = 2.0  # a container healthcheck waits no longer for Redis
SCRAPE_TIMEOUT = 10.0
RELEASE_BATCH = 1000  # records' stage and status read per round trip


def add_metrics_routes(app: web.Application, engine: Engine[Any]) -> None:
    """`GET /metrics` and `GET /healthz` on `app`, reading `engine`'s Redis."""

    async def metrics(_request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(SCRAPE_TIMEOUT):
                families = await read_metrics(engine.redis)
        except (RedisError, OSError, TimeoutError) as exc:
            return web.Response(status=503, text=f"Redis unavailable: {_reason(engine, exc)}\n")
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(families))
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE})

    async def healthz(_request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await engine.redis.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            body = {"status": "unavailable", "redis": _reason(engine, exc)}
            return web.json_response(body, status=503)
        return web.json_response({"status": "ok", "redis": "ok"})

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)


async def read_metrics(redis: Redis) -> list[Metric]:
    """Every metric family, read from Redis (a few round trips, whatever the pool's size)."""
    releases = await _release_counts(redis)
    recorded = await stats.read_stats(redis, [s.value for s in STAGE_ORDER])
    depths = await pool.queue_depths(redis)
    breaker = await pool.audnex_breaker(redis).state()
    return [
        _releases(releases),
        _durations(recorded),
        _failures(recorded),
        CounterMetricFamily(
            "mamfast_hashed_bytes",
            "Bytes the torrent stage read and hashed",
            value=recorded.hashed_bytes,
        ),
        _gauge("mamfast_queue_depth", "Jobs waiting per queue", "queue", depths),
        _gauge(
            "mamfast_audnex_breaker_state",
            "Audnex circuit breaker shared by the workers: 1 for its current state",
            "state",
            {state.value: int(state is breaker) for state in BreakerState},
        ),
        CounterMetricFamily(
            "mamfast_audnex_rate_limit_waits",
            "Audnex requests that waited for the shared rate limit",
            value=recorded.limit_waits,
        ),
        CounterMetricFamily(
            "mamfast_audnex_rate_limit_wait_seconds",
            "Seconds Audnex requests waited for the shared rate limit",
            value=recorded.limit_wait_seconds,
        ),
        CounterMetricFamily(
            "mamfast_audnex_rate_limit_pauses",
            "Times Audnex answered 429 and every worker paused",
            value=recorded.pauses_429,
        ),
    ]


async def _release_counts(redis: Redis) -> Counter[tuple[str, str]]:
    """(stage, status) -> releases, from the fields the record hash keeps beside its JSON."""
    asins = await redis.zrange(keys.RELEASES, 0, -1)
    counts: Counter[tuple[str, str]] = Counter()
    for start in range(0, len(asins), RELEASE_BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for asin in asins[start : start + RELEASE_BATCH]:
                pipe.hmget(keys.release(_text(asin)), ["stage", "status"])
            for stage, status in await pipe.execute():
                if stage is not None and status is not None:  # vanished meanwhile
                    counts[_text(stage), _text(status)] += 1
    return counts


def _releases(counts: Counter[tuple[str, str]]) -> Metric:
    family = GaugeMetricFamily(
        "mamfast_releases", "Releases by the stage they are at and their status",
        labels=["stage", "status"],
    )  # fmt: skip
    # Every known pair, so a count that drops to zero is a 0, not a vanished series.
    pairs = {(stage.value, status.value) for stage in Stage for status in Status} | set(counts)
    for stage, status in sorted(pairs):
        family.add_metric([stage, status], counts.get((stage, status), 0))
    return family


def _durations(recorded: stats.Stats) -> Metric:
    family = HistogramMetricFamily(
        "mamfast_stage_duration_seconds", "Finished stage runs, by stage", labels=["stage"]
    )
    for stage, durations in recorded.durations.items():
        family.add_metric([stage], durations.buckets, sum_value=durations.seconds)
    return family


def _failures(recorded: stats.Stats) -> Metric:
    family = CounterMetricFamily(
        "mamfast_stage_failures", "Failed stage runs, by stage and error class",
        labels=["stage", "kind"],
    )  # fmt: skip
    for (stage, kind), count in sorted(recorded.failures.items()):
        family.add_metric([stage, kind], count)
    return family


def _gauge(name: str, doc: str, label: str, values: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


class _Families(Collector):
    """Hands the families read for one request to that request's registry."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def _reason(engine: Engine[Any], exc: BaseException) -> str:
    """Why Redis did not answer, short and with its URL's password hidden."""
    text = str(exc) or type(exc).__name__
    return scrub(text, secrets=[engine.settings.secret("redis_url")])[:200]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
