"""`GET /metrics` and `GET /healthz` on a bare aiohttp Application, against the real
Redis after a real pipeline run (the demo library through every stage, Audnex played
by the local server): the figures the engine recorded, and no secret in the output."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from arq.connections import ArqRedis
from prometheus_client.parser import text_string_to_metric_families

from mamfast.engine.engine import Engine
from mamfast.models import STAGE_ORDER, Status
from mamfast.ops.demo import write_demo_library
from mamfast.ops.embedded import free_port
from mamfast.ops.runner import run
from mamfast.stages import default_pipeline
from mamfast.torrents.parse import read_torrent
from mamfast.web.metrics import add_metrics_routes
from tests.conftest import make_settings
from workers.serve import serve

PASSKEY = "s3cretpasskey0123456789abcdef"
BROKEN = "B0DEMO0002"


async def client_for(engine: Engine[Any]) -> TestClient:
    app = web.Application()
    add_metrics_routes(app, engine)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def after_a_run(tmp_path, redis_server, redis, audnex) -> AsyncIterator[dict[str, Any]]:
    """The demo library through every stage: two books ready, one with broken audio
    (needs attention at metadata); Audnex answers one 429 on the way."""
    settings = make_settings(
        tmp_path,
        redis_server.url,
        audnex_url=audnex.url,
        announce_url=f"https://t.myanonamouse.net/tracker.php/{PASSKEY}/announce.php",
    )
    write_demo_library(settings.library_dir)
    broken = next(settings.library_dir.rglob(f"*{BROKEN}*.m4b"))
    broken.write_bytes(b"this is not audio" * 100)
    audnex.retry_after = "1"
    audnex.next("429")
    result = await run(settings, stages=default_pipeline(settings), serve=serve)
    engine = Engine(settings, redis, default_pipeline(settings))
    client = await client_for(engine)
    yield {"releases": {r.asin: r for r in result.releases}, "client": client}
    await client.close()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, frozenset(sample.labels.items())] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found[name, frozenset(labels.items())]


async def test_metrics_after_a_pipeline_run(after_a_run):
    releases = after_a_run["releases"]
    assert releases[BROKEN].status is Status.NEEDS_ATTENTION
    ready = [r for r in releases.values() if r.status is Status.READY]
    assert len(ready) == 2
    response = await after_a_run["client"].get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(await response.text())

    assert value(found, "mamfast_releases", stage="done", status="ready") == 2
    assert value(found, "mamfast_releases", stage="metadata", status="needs_attention") == 1
    assert value(found, "mamfast_releases", stage="torrent", status="running") == 0
    for stage in STAGE_ORDER:  # every finished run of each stage, in the histogram
        runs = 3 if stage.value == "stage" else 2
        assert value(found, "mamfast_stage_duration_seconds_count", stage=stage.value) == runs
        assert (
            value(found, "mamfast_stage_duration_seconds_bucket", stage=stage.value, le="+Inf")
            == runs
        )
        assert value(found, "mamfast_stage_duration_seconds_sum", stage=stage.value) > 0
    failures = {
        labels: n for (name, labels), n in found.items() if name == "mamfast_stage_failures_total"
    }
    assert failures == {
        frozenset({("stage", "metadata"), ("kind", releases[BROKEN].error_type)}): 1
    }
    hashed = sum(read_torrent(Path(r.torrent_path or "")).total_size for r in ready)
    assert value(found, "mamfast_hashed_bytes_total") == hashed > 0
    assert value(found, "mamfast_queue_depth", queue="default") == 0
    assert value(found, "mamfast_queue_depth", queue="hash") == 0
    assert value(found, "mamfast_audnex_breaker_state", state="closed") == 1
    assert value(found, "mamfast_audnex_breaker_state", state="open") == 0
    assert value(found, "mamfast_audnex_rate_limit_pauses_total") == 1  # the 429
    assert value(found, "mamfast_audnex_rate_limit_waits_total") >= 1  # waited it out
    assert value(found, "mamfast_audnex_rate_limit_wait_seconds_total") > 0.5


async def test_no_secret_title_or_path_in_metrics(after_a_run, tmp_path):
    text = await (await after_a_run["client"].get("/metrics")).text()
    assert PASSKEY not in text and "myanonamouse" not in text
    assert str(tmp_path) not in text
    for record in after_a_run["releases"].values():
        assert record.asin not in text and record.title not in text


async def test_a_second_scrape_adds_nothing(after_a_run):
    first = samples(await (await after_a_run["client"].get("/metrics")).text())
    second = samples(await (await after_a_run["client"].get("/metrics")).text())
    assert first == second  # read from Redis each time, nothing counted by the scrape


async def test_healthz_answers_200_with_redis_and_503_without(settings, redis):
    client = await client_for(Engine(settings, redis, default_pipeline(settings)))
    try:
        response = await client.get("/healthz")
        assert response.status == 200
        assert await response.json() == {"status": "ok", "redis": "ok"}
    finally:
        await client.close()

    gone = f"redis://:hunter2pass@127.0.0.1:{free_port()}/0"
    dead = ArqRedis.from_url(gone, socket_connect_timeout=0.5)
    down = make_settings(settings.data_dir.parent, gone)
    client = await client_for(Engine(down, dead, default_pipeline(down)))
    try:
        response = await client.get("/healthz")
        assert response.status == 503
        body = await response.json()
        assert body["status"] == "unavailable" and body["redis"]
        scraped = await client.get("/metrics")
        assert scraped.status == 503 and "Redis unavailable" in await scraped.text()
        assert "hunter2pass" not in str(body) + await scraped.text()
    finally:
        await client.close()
        await dead.aclose()


async def test_statistics_that_cannot_be_written_never_fail_a_job():
    """Redis gone after a commit: the run is not counted, and nothing is raised into the job."""
    from mamfast.engine import stats

    dead = ArqRedis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    try:
        await stats.record_run(dead, "torrent", 1.5, hashed_bytes=1024)
        await stats.record_failure(dead, "metadata", "MediaInfoError")
        await stats.record_limit_wait(dead, 0.5)
        await stats.record_pause(dead)
    finally:
        await dead.aclose()
