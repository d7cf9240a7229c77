"""Run in-process workers until every release is terminal (or a timeout)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from mamfast.config import Settings
from mamfast.engine import keys
from mamfast.engine.spec import Pipeline
from mamfast.engine.store import ReleaseStore
from workers.serve import serve


async def all_terminal(store: ReleaseStore) -> bool:
    records = await store.all()
    return bool(records) and all(r.terminal for r in records)


async def drain(
    settings: Settings,
    stages: Pipeline,
    store: ReleaseStore,
    *,
    timeout: float = 30.0,
    queues: Sequence[str] = (keys.DEFAULT_QUEUE, keys.HASH_QUEUE),
) -> None:
    async def done() -> bool:
        return await all_terminal(store)

    await asyncio.wait_for(
        serve(settings, queues, stages=stages, stop_when=done, check_every=0.1), timeout
    )
