"""The token buckets (mamfast.clients.ratelimit): one budget shared by every client of a
Redis, a shared pause, and the waits they report. Counts and reported waits are asserted,
never how long anything took."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from mamfast.clients import ratelimit
from mamfast.clients.ratelimit import LocalTokenBucket, RedisTokenBucket
from mamfast.engine.connections import connect
from mamfast.errors import AudnexUnavailableError

BUCKET = "mamfast:test:bucket"
PAUSE = "mamfast:test:pause"


def bucket(redis, *, per_minute: float, burst: int) -> RedisTokenBucket:
    return RedisTokenBucket(redis, BUCKET, PAUSE, per_minute=per_minute, burst=burst)


@pytest.fixture
async def second_client(redis_server):
    """Another worker's connection to the same Redis."""
    pool = await connect(redis_server.url)
    yield pool
    await pool.aclose()


async def test_two_clients_share_one_budget(redis, second_client):
    # One token per 10 s: nothing refills while the test asks.
    one = bucket(redis, per_minute=6, burst=3)
    two = bucket(second_client, per_minute=6, burst=3)
    waits = await asyncio.gather(*(b.try_take() for b in (one, two) * 5))
    assert sorted(w == 0 for w in waits) == [False] * 7 + [True] * 3
    assert all(0 < w <= 10 for w in waits if w)
    # The bucket key expires once it would be full again: no state is left behind.
    assert 0 < await redis.pttl(BUCKET) <= 3 * 10_000 + 1000


async def test_a_refused_take_reports_the_wait_and_spends_no_token(redis):
    limiter = bucket(redis, per_minute=6, burst=1)
    assert await ratelimit.take(limiter, max_wait=0) == 0.0
    with pytest.raises(AudnexUnavailableError, match="rate limit") as info:
        await ratelimit.take(limiter, max_wait=5, what="Audnex")
    assert info.value.retry_after is not None and 5 < info.value.retry_after <= 10
    assert "MAMFAST_AUDNEX_RATE_PER_MINUTE" in info.value.hint
    assert 0 <= float(await redis.hget(BUCKET, "tokens")) < 1  # the refusal took nothing


async def test_waiting_takes_are_served_one_token_at_a_time(redis, second_client):
    # One token a second, none saved up: three takers from two clients at once.
    one = bucket(redis, per_minute=60, burst=1)
    two = bucket(second_client, per_minute=60, burst=1)
    waited = await asyncio.gather(*(ratelimit.take(b, max_wait=30) for b in (one, two, one)))
    assert sorted(w == 0 for w in waited) == [False, False, True]  # one went straight in
    assert all(0 < w <= 30 for w in waited if w)  # the others report what they waited


async def test_a_pause_holds_every_client_and_keeps_the_longest(redis, second_client):
    one = bucket(redis, per_minute=6, burst=2)
    two = bucket(second_client, per_minute=6, burst=2)
    await one.pause(30)  # a 429 seen by one worker
    assert 20 < await two.try_take() <= 30
    await two.pause(1)  # a shorter Retry-After must not cut the long pause
    assert 20 < await one.try_take() <= 30
    await two.pause(45)  # a longer one extends it
    assert 30 < await one.try_take() <= 45

    await redis.delete(PAUSE)  # the pause ran out: the saved-up tokens are all there
    waits = [await b.try_take() for b in (one, two, one)]
    assert [w == 0 for w in waits] == [True, True, False]


async def test_a_burst_below_one_still_grants_one_call(redis):
    limiter = bucket(redis, per_minute=6, burst=0)
    assert await limiter.try_take() == 0
    assert await limiter.try_take() > 0


class Clock:
    """Stands in for the `time` module inside the limiter: time moves only when told."""

    def __init__(self) -> None:
        self.now = 500.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


async def test_local_bucket_refills_at_its_rate(clock):
    limiter = LocalTokenBucket(per_minute=60, burst=2)
    assert [await limiter.try_take() for _ in range(3)] == [0.0, 0.0, 1.0]
    clock.now += 0.5
    assert await limiter.try_take() == pytest.approx(0.5)
    clock.now += 0.5
    assert await limiter.try_take() == 0.0
    clock.now += 60  # a long idle time saves up no more than the burst
    assert [await limiter.try_take() for _ in range(3)] == [0.0, 0.0, 1.0]


async def test_local_pause_keeps_the_longest(clock):
    limiter = LocalTokenBucket(per_minute=60, burst=5)
    await limiter.pause(10)
    await limiter.pause(2)
    assert await limiter.try_take() == 10
    clock.now += 4
    assert await limiter.try_take() == 6
    clock.now += 6
    assert await limiter.try_take() == 0.0  # no token was spent while paused
