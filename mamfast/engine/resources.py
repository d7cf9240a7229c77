"""Per-worker resources, created at worker start and passed to every stage.

Nothing here is global: a worker (or a test) builds one `Resources` in its
startup hook, puts it in arq's `ctx`, and closes it on shutdown. Two workers
in one process (as `mamfast run` does) each get their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arq.connections import ArqRedis

from mamfast.clients.audnex import AudnexClient
from mamfast.clients.qbit import QbitClient
from mamfast.config import Settings
from mamfast.engine import keys
from mamfast.engine.store import ReleaseStore

if TYPE_CHECKING:
    from mamfast.engine.pipeline import StageSpec
    from mamfast.models import Stage

Closer = Callable[[], Awaitable[None]]
PROGRESS_TTL = 3600


@dataclass
class Resources:
    settings: Settings
    redis: ArqRedis
    stages: Mapping[Stage, StageSpec]
    # Torrent hashing threads, apart from the default executor so a long hash
    # cannot starve other `to_thread` work (threads start only when first used).
    hash_pool: ThreadPoolExecutor = field(default_factory=lambda: make_hash_pool(None))
    qbit: QbitClient | None = None  # None when MAMFAST_QBIT_URL is not set
    store: ReleaseStore = field(init=False)
    # Set by open_resources(): one pooled HTTP session per worker, limits shared via Redis.
    audnex: AudnexClient = field(init=False)
    _closers: list[Closer] = field(default_factory=list)
    _progress_at: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store = ReleaseStore(self.redis)

    def on_close(self, closer: Closer) -> None:
        self._closers.append(closer)

    async def close(self) -> None:
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                await closer()
        self._closers.clear()

    async def report_progress(self, asin: str, stage: str, done: int, total: int) -> None:
        """Publish progress for live views; rate-limited to a few writes per second."""
        now = time.monotonic()
        if done < total and now - self._progress_at.get(asin, 0.0) < 0.25:
            return
        self._progress_at[asin] = now
        key = f"{keys.PREFIX}progress:{asin}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping={"stage": stage, "done": done, "total": total})
            pipe.expire(key, PROGRESS_TTL)
            await pipe.execute()


async def open_resources(
    settings: Settings, redis: ArqRedis, stages: Mapping[Stage, StageSpec]
) -> Resources:
    """Everything a worker's stages need, created once at worker start."""
    res = Resources(
        settings=settings,
        redis=redis,
        stages=stages,
        hash_pool=make_hash_pool(settings.torrent_workers),
    )
    res.on_close(_shutdown(res.hash_pool))
    res.audnex = AudnexClient.for_worker(settings, redis)
    res.on_close(res.audnex.close)
    if settings.qbit_url:
        # No network here: the client logs in on first use, so a worker starts even
        # while qBittorrent is down (the upload stage then retries).
        res.qbit = QbitClient.from_settings(settings)
        res.on_close(res.qbit.close)
    return res


def make_hash_pool(workers: int | None) -> ThreadPoolExecutor:
    """One thread per core by default: SHA-1 is CPU-bound, more threads only contend."""
    return ThreadPoolExecutor(
        max_workers=workers or os.cpu_count() or 2, thread_name_prefix="mamfast-hash"
    )


def _shutdown(pool: ThreadPoolExecutor) -> Closer:
    async def close() -> None:
        # Running hashes were cancelled with their jobs and stop within one chunk;
        # wait for them off the event loop.
        await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    return close
