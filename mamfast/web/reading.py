"""What the pages and the event streams read from Redis: records and their live progress.

One `Reader` per dashboard. Every open page asks it twice a second, so it

* shares one read between the pages asking within the same tick;
* fetches, each tick, only the records that can be moving: the unfinished ones (the
  engine's `active` set), those that were unfinished at the last tick (they may just
  have finished) and those an action of this dashboard touched. Every record is read
  again every FULL_EVERY seconds, and whenever the list of releases changes, so a
  change made elsewhere to a finished release (`mamfast uploaded`, say) shows too;
* decodes only records whose stored JSON changed (validation is most of a read's cost).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError

from mamfast.engine import keys
from mamfast.engine.engine import Engine
from mamfast.engine.store import DamagedRecord, asin_list, decode, wrong_type
from mamfast.errors import DamagedRecordError
from mamfast.models import Release, Status
from mamfast.web import present

FRESH_FOR = 0.25  # seconds a read is shared between pages (half the streams' tick)
FULL_EVERY = 2.0  # seconds between reads of every record


@dataclass
class Releases:
    records: list[Release]
    damaged: list[DamagedRecord] = field(default_factory=list)
    progress: dict[str, dict[bytes, bytes]] = field(default_factory=dict)
    _counts: dict[str, int] | None = None

    def counts(self) -> dict[str, int]:
        """The views' numbers, counted once per read however many pages ask."""
        if self._counts is None:
            self._counts = present.counts(self.records)
        return self._counts


class Reader:
    def __init__(self, engine: Engine[Any]) -> None:
        self._engine = engine
        self._docs: dict[str, bytes | ResponseError | None] = {}
        self._decoded: dict[str, tuple[bytes, Release]] = {}
        self._order: list[str] = []
        self._moving: set[str] = set()
        self._touched: set[str] = set()
        self._last: Releases | None = None
        self._read_at = 0.0
        self._full_at = 0.0
        self._lock = asyncio.Lock()

    def touched(self, asin: str) -> None:
        """An action changed `asin`: the next read fetches it, whatever its state."""
        self._touched.add(asin)

    async def everything(self) -> Releases:
        """Every readable record, oldest first, read at most FRESH_FOR seconds ago."""
        async with self._lock:
            now = time.monotonic()
            if self._last is None or now - self._read_at > FRESH_FOR:
                self._last = await self._refresh(now)
                self._read_at = now
            return self._last

    async def one(self, asin: str) -> Releases:
        """One record as it is now (a release page)."""
        async with self._lock:
            await self._fetch([asin])
            return await self._assemble([asin])

    async def _refresh(self, now: float) -> Releases:
        redis = self._engine.redis
        order = asin_list(await redis.zrange(keys.RELEASES, 0, -1))
        active = set(asin_list(await redis.smembers(keys.ACTIVE)))  # type: ignore[misc]
        if order != self._order or now - self._full_at > FULL_EVERY:
            wanted: Iterable[str] = order
            self._full_at = now
        else:
            wanted = [a for a in order if a in active or a in self._moving or a in self._touched]
        self._touched.clear()
        self._order = order
        self._moving = active
        await self._fetch(list(wanted))
        for gone in set(self._docs) - set(order):
            self._docs.pop(gone, None)
            self._decoded.pop(gone, None)
        return await self._assemble(order)

    async def _fetch(self, asins: list[str]) -> None:
        if not asins:
            return
        async with self._engine.redis.pipeline(transaction=False) as pipe:
            for asin in asins:
                pipe.hget(keys.release(asin), "doc")
            docs = await pipe.execute(raise_on_error=False)
        self._docs.update(zip(asins, docs, strict=True))

    async def _assemble(self, asins: list[str]) -> Releases:
        found = Releases(records=[])
        for asin in asins:
            doc = self._docs.get(asin)
            if not doc:
                continue
            try:
                found.records.append(self._decode(asin, doc))
            except DamagedRecordError as exc:
                found.damaged.append(DamagedRecord(asin=asin, problem=exc.message, hint=exc.hint))
        found.progress = await _progress(self._engine, found.records)
        return found

    def _decode(self, asin: str, doc: bytes | ResponseError) -> Release:
        if isinstance(doc, ResponseError):
            raise wrong_type(asin, doc)
        cached = self._decoded.get(asin)
        if cached is not None and cached[0] == doc:
            return cached[1]
        release = decode(asin, doc)
        self._decoded[asin] = (doc, release)
        return release


async def _progress(engine: Engine[Any], records: list[Release]) -> dict[str, dict[bytes, bytes]]:
    running = [r.asin for r in records if r.status is Status.RUNNING]
    if not running:
        return {}
    async with engine.redis.pipeline(transaction=False) as pipe:
        for asin in running:
            pipe.hgetall(keys.progress(asin))
        found = await pipe.execute()
    return dict(zip(running, found, strict=True))
