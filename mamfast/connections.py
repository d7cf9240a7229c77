"""Redis connections: every pool uses the JSON job serializer, never pickle."""

from __future__ import annotations

from arq.connections import ArqRedis, RedisSettings, create_pool

from mamfast import serializer
from mamfast.config import Settings
from mamfast.errors import ConfigError


def redis_url(settings: Settings) -> str:
    url = settings.secret("redis_url")
    if not url:
        raise ConfigError(
            "MAMFAST_REDIS_URL is not set",
            hint="point it at your Redis (redis://host:6379/0), or use `mamfast run`, "
            "which starts a private Redis",
        )
    return url


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
