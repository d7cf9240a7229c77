"""The Audnex response cache, keyed by (kind, asin, region), shared through Redis.

A re-run of a release, or another worker picking it up, reads the answer from
here instead of spending a request. "Not in this region" is cached too, for a
shorter time: new books show up in Audnex a week or two after release.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel
from redis.asyncio import Redis

from mamfast.engine import keys

Kind = Literal["book", "chapters"]
MISSING_TTL_CAP = 6 * 3600


class Cached(BaseModel):
    status: Literal["found", "missing"]
    body: str = ""  # the raw JSON body, re-validated on read
    reason: str = ""


class ResponseCache(Protocol):
    async def get(self, kind: Kind, asin: str, region: str) -> Cached | None: ...

    async def put(self, kind: Kind, asin: str, region: str, entry: Cached) -> None: ...

    async def forget(self, kind: Kind, asin: str, region: str) -> None: ...


class RedisResponseCache:
    def __init__(self, redis: Redis, *, ttl: int) -> None:
        self._redis = redis
        self._ttl = ttl

    async def get(self, kind: Kind, asin: str, region: str) -> Cached | None:
        if self._ttl <= 0:
            return None
        raw = await self._redis.get(keys.audnex_cache(kind, asin, region))
        if raw is None:
            return None
        try:
            return Cached.model_validate_json(raw)
        except ValueError:
            return None  # written by another version: refetch

    async def put(self, kind: Kind, asin: str, region: str, entry: Cached) -> None:
        ttl = self._ttl if entry.status == "found" else min(self._ttl, MISSING_TTL_CAP)
        if ttl > 0:
            await self._redis.set(
                keys.audnex_cache(kind, asin, region), entry.model_dump_json(), ex=ttl
            )

    async def forget(self, kind: Kind, asin: str, region: str) -> None:
        await self._redis.delete(keys.audnex_cache(kind, asin, region))


class NoCache:
    """For one-off commands without Redis."""

    async def get(self, kind: Kind, asin: str, region: str) -> Cached | None:
        return None

    async def put(self, kind: Kind, asin: str, region: str, entry: Cached) -> None:
        return None

    async def forget(self, kind: Kind, asin: str, region: str) -> None:
        return None
