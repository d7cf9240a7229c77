"""Blocking file work never runs on the event loop: a slow disk must not stop lease renewal.

On NFS a single stat can hang for seconds. The artifact checks run under the release
lock; on the event loop such a stat would also freeze the task that renews the lock,
so the lease would expire under a worker that is merely waiting for its disk.
"""

from __future__ import annotations

import dataclasses
import time

import redis as sync_redis

from mamfast.engine import keys
from mamfast.engine.dispatch import submit
from mamfast.models import Release, Stage, Status
from tests.support.drain import drain
from tests.support.engine_stages import instrumented_pipeline

LEASE = 2.0  # seconds: renewed every LEASE / 3


async def test_the_lease_keeps_renewing_while_an_artifact_check_blocks(
    make_services, redis_server, tmp_path
):
    client = sync_redis.Redis.from_url(redis_server.url)
    renewed: list[bool] = []

    def hung_stat(release: Release) -> str | None:
        """A stat on a hung mount: returns once the lease was renewed meanwhile, or after
        two lease times (on the event loop, no renewal could ever come)."""
        lock = keys.release_lock(release.asin)
        started, left_ms = time.monotonic(), client.pttl(lock)
        while (waited := time.monotonic() - started) < 2 * LEASE:
            # Unrenewed, the lease's time left only shrinks as we wait; renewed, it is
            # back near a full lease.
            if client.pttl(lock) > left_ms - waited * 1000 + 300:
                renewed.append(True)
                return None
            time.sleep(0.02)
        renewed.append(False)
        return None

    stages = dict(instrumented_pipeline())
    stages[Stage.STAGE] = dataclasses.replace(stages[Stage.STAGE], artifacts_missing=hung_stat)
    res = await make_services(stages, lock_ttl=LEASE)
    await submit(res.engine, Release(asin="B0TEST0001", staging_dir=str(tmp_path)))

    await drain(res.settings, stages, res.engine.store)

    record = await res.engine.store.get("B0TEST0001")
    assert record is not None and record.status is Status.READY
    # Every later stage's job checked the staged folder, and its lease lived through it.
    assert renewed == [True, True, True]
    assert record.attempts == {}
