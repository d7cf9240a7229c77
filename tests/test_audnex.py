"""The Audnex client against a local fake Audnex and the private Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mamfast.clients.audnex import AudnexClient, AudnexNotFoundError, RetryPolicy
from mamfast.clients.breaker import BreakerState
from mamfast.clients.ratelimit import RedisTokenBucket
from mamfast.engine import keys
from mamfast.engine.connections import connect
from mamfast.errors import AudnexUnavailableError, MetadataError
from tests.support.netguard import loopback_only  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("loopback_only")

FAST = RetryPolicy(
    attempts=3,
    backoff_base=0.01,
    backoff_cap=0.05,
    default_retry_after=0.5,
    max_limit_wait=5.0,
    breaker_threshold=3,
    breaker_cooldown=0.6,
    burst=100,
)


@pytest.fixture
async def make_client(settings, redis, audnex) -> AsyncIterator[Any]:
    made: list[AudnexClient] = []

    def factory(*, conn=None, policy: RetryPolicy = FAST, **overrides: Any) -> AudnexClient:
        values = {"audnex_url": audnex.url, "audnex_rate_per_minute": 100, **overrides}
        client = AudnexClient.for_worker(
            settings.model_copy(update=values), conn or redis, policy=policy
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.close()


async def test_book_and_chapters_from_first_region(make_client, audnex):
    found = await make_client().lookup("B003ZWFO7E")
    assert found.region == "us" and not found.from_cache
    assert found.book.title == "The Way of Kings"
    assert found.book.series_primary is not None
    assert (found.book.series_primary.name, found.book.series_primary.position) == (
        "The Stormlight Archive",
        "1",
    )
    assert [n.name for n in found.book.narrators] == ["Michael Kramer", "Kate Reading"]
    assert found.chapters is not None and len(found.chapters.chapters) == 2
    assert [(r.path, r.region) for r in audnex.requests] == [
        ("/books/B003ZWFO7E", "us"),
        ("/books/B003ZWFO7E/chapters", "us"),
    ]


async def test_region_unavailable_moves_to_next_region(make_client, audnex):
    found = await make_client(audnex_regions=["us", "uk"]).lookup("B0NONARR01")
    assert found.region == "uk"
    assert [r.region for r in audnex.requests if r.path == "/books/B0NONARR01"] == ["us", "uk"]


async def test_old_format_500_not_available_moves_to_next_region(make_client, audnex):
    audnex.old_error_format = True
    found = await make_client(audnex_regions=["us", "uk"]).lookup("B0NONARR01")
    assert found.region == "uk"
    assert audnex.count("/books/B0NONARR01") == 2  # no retries of a "not available" 500


async def test_not_found_anywhere_names_every_region(make_client, audnex):
    with pytest.raises(AudnexNotFoundError) as info:
        await make_client(audnex_regions=["us", "uk"]).lookup("B0NOTHERE1")
    assert str(info.value).startswith("B0NOTHERE1 not found in us (NOT_FOUND")
    assert "uk (NOT_FOUND" in str(info.value)


async def test_not_an_asin_makes_no_request(make_client, audnex):
    with pytest.raises(AudnexNotFoundError, match="not an Audible ASIN"):
        await make_client().lookup("hello")
    assert audnex.requests == []


async def test_cache_serves_a_rerun_and_a_second_worker(make_client, audnex, redis_server):
    first = await make_client().lookup("B003ZWFO7E")
    assert audnex.count() == 2
    other_conn = await connect(redis_server.url)
    try:
        second = await make_client(conn=other_conn).lookup("B003ZWFO7E")  # another worker
    finally:
        await other_conn.aclose()
    assert second.from_cache and second.book == first.book and second.chapters == first.chapters
    assert audnex.count() == 2


async def test_missing_region_answer_is_cached_too(make_client, audnex):
    client = make_client(audnex_regions=["us", "uk"])
    await client.lookup("B0NONARR01")
    await client.lookup("B0NONARR01")
    assert audnex.count("/books/B0NONARR01") == 2  # us (missing) and uk, once each


async def test_429_pauses_every_worker_for_retry_after(make_client, audnex, redis):
    audnex.retry_after = "1"
    audnex.next("429")
    started = time.monotonic()
    found = await make_client().lookup("B08G9PRS1K")
    assert found.book.title == "Project Hail Mary"
    assert time.monotonic() - started >= 0.9
    assert audnex.count("/books/B08G9PRS1K") == 2


async def test_429_without_retry_after_waits_the_default(make_client, audnex, redis):
    audnex.retry_after = None
    audnex.next("429")
    client = make_client()
    task = asyncio.create_task(client.lookup("B08G9PRS1K"))
    await asyncio.sleep(0.2)
    pause = await redis.pttl(keys.AUDNEX_PAUSE)
    assert 0 < pause <= 500  # FAST.default_retry_after
    await task


async def test_long_429_becomes_retry_later(make_client, audnex):
    audnex.retry_after = "120"
    audnex.next("429")
    with pytest.raises(AudnexUnavailableError) as info:
        await make_client().lookup("B08G9PRS1K")
    assert info.value.retry_after is not None and info.value.retry_after > 100


async def test_server_errors_and_dropped_connections_are_retried(make_client, audnex):
    audnex.next("500", "drop")
    found = await make_client().lookup("B08G9PRS1K")
    assert found.book.asin == "B08G9PRS1K"
    assert audnex.count("/books/B08G9PRS1K") == 3


async def test_garbage_is_an_error_with_url_and_status(make_client, audnex):
    audnex.next("garbage")
    with pytest.raises(MetadataError) as info:
        await make_client().lookup("B003ZWFO7E")
    message = str(info.value)
    assert f"{audnex.url}/books/B003ZWFO7E" in message and "HTTP 200" in message
    # not cached: once the server is sane again, the next run gets the real record
    assert (await make_client().lookup("B003ZWFO7E")).book.title == "The Way of Kings"


async def test_truncated_json_is_an_error(make_client, audnex):
    audnex.next("truncated")
    with pytest.raises(MetadataError, match="not a valid book record"):
        await make_client().lookup("B003ZWFO7E")


async def test_slow_answers_within_the_timeout_are_fine(make_client, audnex):
    audnex.slow_seconds = 0.2
    audnex.next("slow")
    found = await make_client(audnex_timeout=2.0).lookup("B08G9PRS1K")
    assert found.book.asin == "B08G9PRS1K"


async def test_no_answer_times_out_and_says_so(make_client, audnex):
    audnex.always = "hang"
    started = time.monotonic()
    with pytest.raises(AudnexUnavailableError) as info:
        await make_client(audnex_timeout=0.3).lookup("B08G9PRS1K")
    assert "no answer within 0.3s" in str(info.value)
    assert time.monotonic() - started < 3


async def test_connection_refused_is_unavailable(make_client, audnex):
    client = make_client(audnex_url="http://127.0.0.1:9")
    with pytest.raises(AudnexUnavailableError, match="did not answer after 3 tries"):
        await client.lookup("B08G9PRS1K")


async def test_breaker_opens_fails_fast_then_half_opens(make_client, audnex):
    client = make_client()
    audnex.always = "500"
    with pytest.raises(AudnexUnavailableError):
        await client.lookup("B08G9PRS1K")
    assert await client.breaker.state() is BreakerState.OPEN
    made = audnex.count()

    with pytest.raises(AudnexUnavailableError, match="circuit breaker open") as info:
        await client.lookup("B003ZWFO7E")
    assert audnex.count() == made  # failed fast, no request
    assert info.value.retry_after is not None and info.value.retry_after <= 1.0

    await asyncio.sleep(FAST.breaker_cooldown + 0.1)
    assert await client.breaker.state() is BreakerState.HALF_OPEN
    audnex.always = "ok"
    found = await client.lookup("B003ZWFO7E")  # the probe succeeds and closes it
    assert found.book.asin == "B003ZWFO7E"
    assert await client.breaker.state() is BreakerState.CLOSED


async def test_failed_probe_opens_the_breaker_again(make_client, audnex):
    client = make_client()
    audnex.always = "502"
    with pytest.raises(AudnexUnavailableError):
        await client.lookup("B08G9PRS1K")
    await asyncio.sleep(FAST.breaker_cooldown + 0.1)
    made = audnex.count()
    with pytest.raises(AudnexUnavailableError):
        await client.lookup("B08G9PRS1K")
    assert audnex.count() == made + 1  # one probe only
    assert await client.breaker.state() is BreakerState.OPEN


async def test_breaker_is_shared_by_workers(make_client, audnex, redis_server):
    audnex.always = "500"
    with pytest.raises(AudnexUnavailableError):
        await make_client().lookup("B08G9PRS1K")
    made = audnex.count()
    other_conn = await connect(redis_server.url)
    try:
        with pytest.raises(AudnexUnavailableError, match="circuit breaker open"):
            await make_client(conn=other_conn).lookup("B003ZWFO7E")
    finally:
        await other_conn.aclose()
    assert audnex.count() == made


async def test_only_one_half_open_probe_in_the_pool(make_client, audnex):
    client = make_client()
    audnex.always = "500"
    with pytest.raises(AudnexUnavailableError):
        await client.lookup("B08G9PRS1K")
    await asyncio.sleep(FAST.breaker_cooldown + 0.1)
    permits = await asyncio.gather(*(client.breaker.allow() for _ in range(5)))
    assert sum(p.allowed for p in permits) == 1


async def test_chapters_missing_is_not_an_error(make_client, audnex):
    found = await make_client().lookup("B08G9PRS1K")  # no chapters fixture: 404
    assert found.chapters is None


async def test_rate_limit_is_shared_by_two_workers(make_client, audnex, redis, redis_server):
    per_minute, burst = 1200.0, 2  # 20 a second, so the test takes about half a second
    other_conn = await connect(redis_server.url)
    try:
        clients = [make_client(), make_client(conn=other_conn)]
        for client, conn in zip(clients, (redis, other_conn), strict=True):
            client.limiter = RedisTokenBucket(
                conn, keys.AUDNEX_BUCKET, keys.AUDNEX_PAUSE, per_minute=per_minute, burst=burst
            )
            client.cache = type(client.cache)(conn, ttl=0)  # every lookup is a request
        started = time.monotonic()
        await asyncio.gather(*(clients[i % 2].lookup("B08G9PRS1K") for i in range(6)))
        elapsed = time.monotonic() - started
    finally:
        await other_conn.aclose()
    made = audnex.count()
    assert made == 12  # book + chapters for each lookup
    # Each worker alone would be allowed `burst` at once; together they share one budget.
    assert elapsed >= (made - burst) / (per_minute / 60) * 0.9
    times = sorted(r.at for r in audnex.requests)
    window = 0.25
    most = max(sum(1 for t in times if s <= t < s + window) for s in times)
    assert most <= burst + window * per_minute / 60 + 1


def test_the_loopback_guard_refuses_other_addresses():
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(AssertionError, match="not loopback"):
            sock.connect(("192.0.2.1", 80))  # TEST-NET-1: refused before any packet is sent
    finally:
        sock.close()
