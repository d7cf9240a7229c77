"""`mamfast health`: is a worker on this host alive? One Redis round trip, short timeouts.

Each worker process refreshes `mamfast:worker:{host}:{pid}:{queue}` every 5 s
with a 15 s TTL. In a container the hostname is the container's, so the
healthcheck sees exactly the workers of its own container.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mamfast.config import Settings
from mamfast.engine import keys
from mamfast.ops.private_redis import claimed


async def host_has_live_worker(settings: Settings, queue: str | None = None) -> bool:
    if settings.redis_url is not None:
        return await _worker_seen(settings.secret("redis_url") or "", queue)
    # The private Redis: a live worker keeps it running; never start one just to ask.
    with claimed(settings, start=False) as url:
        return url is not None and await _worker_seen(url, queue)


async def _worker_seen(url: str, queue: str | None) -> bool:
    redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    pattern = f"{keys.WORKER_PREFIX}{keys.hostname()}:*"
    try:
        async for raw in redis.scan_iter(match=pattern, count=1000):
            key = raw.decode()
            if queue is None or key.endswith(":" + keys.queue_label(queue)):
                return True
        return False
    except (OSError, RedisError):  # Redis down: no live worker we can vouch for
        return False
    finally:
        await redis.aclose()
