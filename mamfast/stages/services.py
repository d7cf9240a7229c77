"""What the stages use beyond the engine: the release rules, the hash pool, the Audnex and
qBittorrent clients.

Created once at worker start (`open_services`), passed to every stage function and
closed on shutdown; nothing here is global, so two workers in one process (as
`mamfast run` does) each have their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from arq.connections import ArqRedis

from mamfast.clients.audnex import AudnexClient
from mamfast.clients.qbit import QbitClient
from mamfast.config import Settings
from mamfast.engine import keys
from mamfast.engine.engine import Engine
from mamfast.engine.spec import Pipeline
from mamfast.release.rules import ReleaseRules, load_release_rules
from mamfast.torrents.disk import DiskTurns, disk_turns_for

Closer = Callable[[], Awaitable[None]]


@dataclass
class Services:
    # The engine these services belong to: the stages read settings from it, and a
    # worker hands it to `run_stage`.
    engine: Engine[Services]
    # Torrent hashing threads, apart from the default executor so a long hash
    # cannot starve other `to_thread` work (threads start only when first used).
    hash_pool: ThreadPoolExecutor = field(default_factory=lambda: make_hash_pool(None))
    qbit: QbitClient | None = None  # None when MAMFAST_QBIT_URL is not set
    # Large releases take turns per disk, across the workers sharing the data dir.
    disk_turns: DiskTurns | None = None
    # Set by open_services(): one pooled HTTP session per worker, limits shared via Redis.
    audnex: AudnexClient = field(init=False)
    # Naming rules, category maps and description template, read once at worker start.
    rules: ReleaseRules = field(init=False)
    _closers: list[Closer] = field(default_factory=list)
    _progress_at: dict[str, float] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    @property
    def redis(self) -> ArqRedis:
        return self.engine.redis

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
        key = keys.progress(asin)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping={"stage": stage, "done": done, "total": total})
            pipe.expire(key, keys.PROGRESS_TTL)
            await pipe.execute()


async def open_services(
    settings: Settings, redis: ArqRedis, stages: Pipeline[Services]
) -> Services:
    """Everything a worker's stages need, created once at worker start.

    A broken rules file raises its ConfigError here, before anything needs closing: the
    worker does not start, rather than fail every release in turn.
    """
    rules = await asyncio.to_thread(load_release_rules, settings)
    services = Services(
        engine=Engine(settings, redis, stages), hash_pool=make_hash_pool(settings.torrent_workers)
    )
    services.rules = rules
    services.disk_turns = disk_turns_for(settings)
    services.on_close(_shutdown(services.hash_pool))
    services.audnex = AudnexClient.for_worker(settings, redis)
    services.on_close(services.audnex.close)
    if settings.qbit_url:
        # No network here: the client logs in on first use, so a worker starts even
        # while qBittorrent is down (the upload stage then retries).
        services.qbit = QbitClient.from_settings(settings)
        services.on_close(services.qbit.close)
    return services


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
