"""Redis connections: every pool uses the JSON job serializer, never pickle."""

from __future__ import annotations

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import AuthenticationError, RedisError

from mamfast import serializer
from mamfast.config import Settings
from mamfast.errors import ConfigError, TransientError


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
    """An arq pool (a redis.asyncio.Redis) that serializes jobs as JSON.

    Raises TransientError when Redis does not answer, ConfigError when it refuses us.
    """
    try:
        return await create_pool(
            redis_settings(url, retries=retries),
            job_serializer=serializer.dumps,
            job_deserializer=serializer.loads,
        )
    except AuthenticationError as exc:
        raise ConfigError(
            f"Redis at {mask_url(url)} refused the login ({exc})",
            hint="check the password in MAMFAST_REDIS_URL (redis://:password@host:6379/0)",
        ) from None
    except (RedisError, OSError) as exc:
        raise TransientError(
            f"cannot reach Redis at {mask_url(url)} ({exc})",
            hint="start Redis, or fix MAMFAST_REDIS_URL (leave it unset for `mamfast run`, "
            "which starts a private Redis)",
        ) from None


def mask_url(url: str) -> str:
    """`redis://user:secret@host` -> `redis://user:***@host` for messages and status output."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0] if ":" in creds else ""
    return f"{scheme}://{user}:***@{host}"
