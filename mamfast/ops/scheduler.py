"""Scheduled and event-driven library scans.

A scan is due every MAMFAST_SCAN_INTERVAL_MINUTES, counted from the last scan
recorded in Redis, so a scan missed while everything was down happens as soon
as a scheduler (or a worker's cron) is back. File-system events on the
library (watchfiles) trigger a scan once the folder has been quiet for
MAMFAST_SETTLE_SECONDS, the same delay discovery uses for books Libation is
still writing. The scan lock keeps two schedulers from scanning at once.
A scheduled scan first runs MAMFAST_LIBATION_COMMAND, if set (`ops.libation`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from mamfast.clients import notify
from mamfast.display import printable
from mamfast.engine import keys
from mamfast.engine.engine import Engine
from mamfast.errors import MamfastError
from mamfast.ops import libation
from mamfast.ops.enqueue import EnqueueReport, ScanLockedError, enqueue

log = logging.getLogger(__name__)

TICK = 5.0  # how often the loop looks at the clock and the change marker


async def last_scan(engine: Engine[Any]) -> float:
    value = await engine.redis.get(keys.LAST_SCAN)
    return float(value) if value else 0.0


async def is_due(engine: Engine[Any], now: float | None = None) -> bool:
    interval = engine.settings.scan_interval_minutes * 60
    return (now or time.time()) - await last_scan(engine) >= interval


async def scan(engine: Engine[Any], reason: str) -> EnqueueReport | None:
    """One scan; None when another scan holds the lock (it covers us)."""
    try:
        report = await enqueue(engine)
    except ScanLockedError:
        log.info("scan (%s) skipped: another scan is running", reason)
        return None
    except MamfastError as exc:  # e.g. the library's volume is not mounted (yet)
        log.error("scan (%s) failed: %s; the next one tries again", reason, exc)
        return None
    except Exception:  # a scan that fails must not end the schedule
        log.exception("scan (%s) failed; the next one is tried on schedule", reason)
        return None
    log.info(
        "scan (%s): %d new, %d rejected, %d settling",
        reason,
        report.new,
        len(report.discovery.rejects),
        len(report.discovery.settling),
    )
    return report


async def scan_if_due(engine: Engine[Any]) -> EnqueueReport | None:
    if engine.settings.library_dir is None or not await is_due(engine):
        return None
    return await scheduled_scan(engine)


async def scheduled_scan(engine: Engine[Any]) -> EnqueueReport | None:
    """A scheduled scan, after the Libation command (MAMFAST_LIBATION_COMMAND) if one is set.

    Only scheduled scans run it: one after a library change would see Libation's own
    downloads as the next change and never stop. While another process runs it, this
    scan waits for a later tick (that process scans right after it)."""
    before = await libation.before_scan(engine)
    if before is not None and before.busy:
        return None
    return await scan(engine, "schedule")


class ChangeMarker:
    """The time of the last file-system change not yet covered by a scan."""

    def __init__(self) -> None:
        self.changed_at: float | None = None

    def touch(self) -> None:
        self.changed_at = time.monotonic()

    def settled(self, settle: float) -> bool:
        return self.changed_at is not None and time.monotonic() - self.changed_at >= settle

    def clear(self) -> None:
        self.changed_at = None


async def watch_library(engine: Engine[Any], marker: ChangeMarker, stop: asyncio.Event) -> None:
    from watchfiles import awatch

    library = engine.settings.library_dir
    if library is None or not library.is_dir():
        return
    try:
        async for _changes in awatch(library, stop_event=stop, recursive=True, debounce=1000):
            marker.touch()
    except Exception as exc:  # e.g. a file name that is not UTF-8: watchfiles gives up
        log.warning(
            "watching %s for changes stopped (%s: %s); scans still run every %g minutes",
            printable(str(library)),
            type(exc).__name__,
            printable(str(exc)),
            engine.settings.scan_interval_minutes,
        )


async def run(engine: Engine[Any], stop: asyncio.Event, *, tick: float = TICK) -> None:
    """Scan on schedule (catching up missed runs) and after library changes, until `stop`."""
    marker = ChangeMarker()
    watcher = asyncio.create_task(watch_library(engine, marker, stop), name="library watcher")
    settle = engine.settings.settle_seconds
    try:
        while not stop.is_set():
            if marker.settled(settle):
                marker.clear()
                await scan(engine, "library changed")
            elif await is_due(engine):
                marker.clear()
                await scheduled_scan(engine)
            await notify.flush(engine)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


@contextlib.asynccontextmanager
async def stopping_on_signals() -> AsyncIterator[asyncio.Event]:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
