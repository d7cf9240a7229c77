"""Redis connections: every pool uses the JSON job serializer, never pickle."""

from __future__ import annotations

from arq.connections import ArqRedis, RedisSettings, create_pool

from mamfast import serializer
from mamfast.errors import ConfigError


def redis_settings(url: str, *, retries: int = 5) -> RedisSettings:
    try:
        rs = RedisSettings.from_dsn(url)
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"MAMFAST_REDIS_URL is not a valid Redis URL ({exc})") from None
    rs.conn_retries = retries
    rs.conn_timeout = 2
    return rs


async def connect(url: str, *, retries: int = 5) -> ArqRedis:
    """An arq pool (a redis.asyncio.Redis) that serializes jobs as JSON."""
    return await create_pool(
        redis_settings(url, retries=retries),
        job_serializer=serializer.dumps,
        job_deserializer=serializer.loads,
    )


def mask_url(url: str) -> str:
    """`redis://user:secret@host` -> `redis://user:***@host` for messages and status output."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0] if ":" in creds else ""
    return f"{scheme}://{user}:***@{host}"
