"""What the pages and the event stream read from Redis: records and their live progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mamfast.engine import keys
from mamfast.engine.engine import Engine
from mamfast.engine.store import DamagedRecord
from mamfast.models import Release, Status


@dataclass
class Releases:
    records: list[Release]
    damaged: list[DamagedRecord] = field(default_factory=list)
    progress: dict[str, dict[bytes, bytes]] = field(default_factory=dict)


async def load(engine: Engine[Any], only: str | None = None) -> Releases:
    """Every readable record (or just `only`), oldest first, with running ones' progress."""
    asins = [only] if only else await engine.store.asins()
    records, damaged = await engine.store.read_many(asins)
    running = [r.asin for r in records if r.status is Status.RUNNING]
    progress: dict[str, dict[bytes, bytes]] = {}
    if running:
        async with engine.redis.pipeline(transaction=False) as pipe:
            for asin in running:
                pipe.hgetall(keys.progress(asin))
            found = await pipe.execute()
        progress = dict(zip(running, found, strict=True))
    return Releases(records, damaged, progress)
