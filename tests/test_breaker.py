"""The circuit breakers (mamfast.clients.breaker): the local one on a hand-moved clock, the
shared one on a real Redis, whose clock the tests move by ageing the recorded opening."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from mamfast.clients import breaker as breaker_module
from mamfast.clients.breaker import BreakerState, LocalBreaker, RedisBreaker
from mamfast.engine.connections import connect

KEY = "mamfast:test:breaker"
PROBE = "mamfast:test:probe"
COOLDOWN = 60.0


class Clock:
    """Stands in for the `time` module inside the breaker: time moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(breaker_module, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


async def fail(breaker, times: int) -> list[BreakerState]:
    return [await breaker.failure() for _ in range(times)]


# --- LocalBreaker -------------------------------------------------------------------------


async def test_local_opens_after_threshold_failures_in_a_row(clock):
    breaker = LocalBreaker(threshold=3, cooldown=COOLDOWN)
    assert await fail(breaker, 2) == [BreakerState.CLOSED] * 2
    await breaker.success()  # a success in between starts the count again
    assert await fail(breaker, 2) == [BreakerState.CLOSED] * 2
    assert (await breaker.allow()).allowed
    assert await breaker.failure() is BreakerState.OPEN

    permit = await breaker.allow()
    assert (permit.allowed, permit.state, permit.retry_in) == (False, BreakerState.OPEN, COOLDOWN)
    clock.now += 45
    assert (await breaker.allow()).retry_in == 15
    assert await breaker.state() is BreakerState.OPEN


async def test_local_half_open_lets_one_probe_and_its_success_closes(clock):
    breaker = LocalBreaker(threshold=1, cooldown=COOLDOWN)
    await breaker.failure()
    clock.now += COOLDOWN
    assert await breaker.state() is BreakerState.HALF_OPEN
    probe = await breaker.allow()
    assert (probe.allowed, probe.state) == (True, BreakerState.HALF_OPEN)
    assert not (await breaker.allow()).allowed  # one probe at a time
    await breaker.success()
    assert await breaker.state() is BreakerState.CLOSED
    assert (await breaker.allow()).state is BreakerState.CLOSED


async def test_local_failed_probe_opens_for_a_full_cooldown(clock):
    breaker = LocalBreaker(threshold=2, cooldown=COOLDOWN)
    await fail(breaker, 2)
    clock.now += COOLDOWN + 5
    assert (await breaker.allow()).allowed
    assert await breaker.failure() is BreakerState.OPEN  # one failure suffices when open
    permit = await breaker.allow()
    assert (permit.allowed, permit.retry_in) == (False, COOLDOWN)


async def test_local_probe_that_never_reports_does_not_wedge_the_breaker(clock):
    # A probe caller can vanish without success() or failure(): cancelled with its job,
    # or refused by the rate limiter after it was let through. Like the Redis probe
    # key, the local probe expires, or the breaker would refuse every call forever.
    breaker = LocalBreaker(threshold=1, cooldown=COOLDOWN, probe_ttl=30)
    await breaker.failure()
    clock.now += COOLDOWN
    assert (await breaker.allow()).allowed  # the probe that goes missing
    refused = await breaker.allow()
    assert (refused.allowed, refused.retry_in) == (False, 30)  # told when the probe expires
    clock.now += 31
    again = await breaker.allow()
    assert (again.allowed, again.state) == (True, BreakerState.HALF_OPEN)


# --- RedisBreaker -------------------------------------------------------------------------


def shared(redis, **kwargs) -> RedisBreaker:
    options = {"threshold": 3, "cooldown": COOLDOWN, "probe_ttl": 30.0, **kwargs}
    return RedisBreaker(redis, KEY, PROBE, **options)


async def age(redis, seconds: float) -> None:
    """Move the breaker's opening into the past (its clock is Redis's: it cannot be faked)."""
    await redis.hincrby(KEY, "opened_at", -int(seconds * 1000))


@pytest.fixture
async def second_client(redis_server):
    """Another worker's connection to the same Redis."""
    pool = await connect(redis_server.url)
    yield pool
    await pool.aclose()


async def test_redis_opens_after_threshold_failures_across_clients(redis, second_client):
    one, two = shared(redis), shared(second_client)
    assert await one.failure() is BreakerState.CLOSED
    assert await two.failure() is BreakerState.CLOSED
    await one.success()  # a success in between starts the count again
    assert await fail(one, 2) == [BreakerState.CLOSED] * 2
    assert (await two.allow()).allowed
    assert await two.failure() is BreakerState.OPEN  # the third in a row, from another client

    for breaker in (one, two):
        permit = await breaker.allow()
        assert (permit.allowed, permit.state) == (False, BreakerState.OPEN)
        assert 0 < permit.retry_in <= COOLDOWN
        assert await breaker.state() is BreakerState.OPEN


async def test_redis_half_open_lets_exactly_one_probe_in_the_pool(redis, second_client):
    one, two = shared(redis), shared(second_client)
    await fail(one, 3)
    await age(redis, COOLDOWN)
    assert await two.state() is BreakerState.HALF_OPEN

    permits = await asyncio.gather(*(b.allow() for b in (one, two) * 10))
    allowed = [p for p in permits if p.allowed]
    assert [p.state for p in allowed] == [BreakerState.HALF_OPEN]
    refused = [p for p in permits if not p.allowed]
    assert len(refused) == 19
    assert all(p.state is BreakerState.OPEN and 0 < p.retry_in <= 30 for p in refused)

    await two.success()  # the probe (whoever ran it) succeeded: closed for everyone
    assert await redis.exists(KEY, PROBE) == 0
    for breaker in (one, two):
        assert await breaker.state() is BreakerState.CLOSED
        assert (await breaker.allow()).state is BreakerState.CLOSED


async def test_redis_failed_probe_opens_for_a_full_cooldown(redis, second_client):
    one, two = shared(redis), shared(second_client)
    await fail(one, 3)
    await age(redis, COOLDOWN + 5)
    assert (await one.allow()).allowed
    assert await one.failure() is BreakerState.OPEN
    assert await redis.exists(PROBE) == 0  # the next cool-down ends with a new probe
    permit = await two.allow()
    assert not permit.allowed
    assert COOLDOWN - 5 < permit.retry_in <= COOLDOWN  # a new cool-down, not the aged one


async def test_redis_probe_of_a_dead_caller_expires(redis, second_client):
    one, two = shared(redis, probe_ttl=0.3), shared(second_client, probe_ttl=0.3)
    await fail(one, 3)
    await age(redis, COOLDOWN)
    assert (await one.allow()).allowed  # this prober dies without a word
    assert not (await two.allow()).allowed
    # The probe key expires by itself; then another worker gets to probe.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while not (permit := await two.allow()).allowed:
        assert loop.time() < deadline, "the probe never expired"
        await asyncio.sleep(0.05)
    assert permit.state is BreakerState.HALF_OPEN
