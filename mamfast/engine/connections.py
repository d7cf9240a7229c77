"""Redis connections: every pool uses the JSON job serializer, never pickle.

A Redis that cannot be reached, or is too old, is one `MamfastError` saying
so and what to do, never a traceback.
"""

from __future__ import annotations

import asyncio
import os

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mamfast.engine import serializer
from mamfast.engine.redis_version import MIN_VERSION, parse_version, version_text
from mamfast.errors import ConfigError, RedisUnavailableError
from mamfast.redact import mask_url

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


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

    Tries `retries` more times a second apart (a restarting Redis), quietly: arq's
    own retries would log a warning per attempt.
    """
    for attempt in range(retries + 1):
        try:
            return await create_pool(
                redis_settings(url, retries=0),
                job_serializer=serializer.dumps,
                job_deserializer=serializer.loads,
            )
        except AuthenticationError as exc:
            raise ConfigError(
                f"Redis at {mask_url(url, keep='path')} refused the login ({exc})",
                hint="check the password in MAMFAST_REDIS_URL (redis://:password@host:6379/0)",
            ) from None
        except UNREACHABLE as exc:
            if attempt == retries:
                raise unreachable(url, exc) from None
            await asyncio.sleep(1)
    raise AssertionError("unreachable")  # the loop returns or raises


def unreachable(url: str, exc: BaseException) -> RedisUnavailableError:
    """The one-line error for a Redis that does not answer (at connect or mid-way)."""
    return RedisUnavailableError(
        f"cannot reach Redis at {mask_url(url, keep='path')}: {_reason(exc)}",
        hint="start Redis, or fix MAMFAST_REDIS_URL; leave it empty to use mamfast's "
        "private Redis under MAMFAST_DATA_DIR",
    )


def _reason(exc: BaseException) -> str:
    """`Connection refused` rather than redis-py's wrapper text, when the OS said why."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno and seen.errno > 0:
            return os.strerror(seen.errno)  # asyncio's text for ECONNREFUSED is its own
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror  # e.g. a DNS failure (negative codes)
        seen = seen.__cause__ or seen.__context__
    return str(exc).strip() or type(exc).__name__


async def check_version(redis: Redis, url: str) -> str:
    """The server's version; a Redis older than mamfast needs is a ConfigError."""
    info = await redis.info("server")
    version = str(info.get("redis_version", "0"))
    if parse_version(version) < MIN_VERSION:
        raise ConfigError(
            f"Redis {version} at {mask_url(url, keep='path')} is too old: mamfast needs Redis "
            f"{version_text(MIN_VERSION)} or newer",
            hint="upgrade that Redis, or leave MAMFAST_REDIS_URL empty to use mamfast's "
            "private Redis",
        )
    return version
