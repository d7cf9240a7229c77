"""The producer: scan the library under the scan lock and submit releases.

One scan at a time, across processes: a scan lock in Redis. Two concurrent
scans would not corrupt anything (record creation and job ids are idempotent),
but they would double the disk walk and interleave their reports, so a second
scan stops with a message that names the holder and how to clear the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from mamfast.clients import notify
from mamfast.engine import control, keys, locks
from mamfast.engine.dispatch import submit
from mamfast.engine.engine import Engine
from mamfast.errors import ConfigError, DamagedRecordError, LockBusyError, MamfastError
from mamfast.library.discovery import scan_library
from mamfast.library.report import DiscoveryReport
from mamfast.models import Release, Status

log = logging.getLogger(__name__)

SCAN_LOCK_TTL = 60.0


class ScanLockedError(MamfastError):
    """Another scan holds the scan lock."""


class EnqueuedRelease(BaseModel):
    asin: str
    title: str
    source_dir: str
    outcome: str  # new | queued | already-<status> | would-enqueue | damaged | failed
    job_id: str | None = None
    problem: str | None = None  # why, for damaged and failed


class EnqueueReport(BaseModel):
    releases: list[EnqueuedRelease] = Field(default_factory=list)
    discovery: DiscoveryReport

    @property
    def new(self) -> int:
        return sum(r.outcome == "new" for r in self.releases)


def scan_lock_message(holder: dict[str, object]) -> str:
    return (
        "Another mamfast scan is already running.\n"
        f"Lock: {keys.SCAN_LOCK}, held by {locks.describe_holder(holder)}.\n\n"
        "If you are sure no other scan is running, clear the lock:\n"
        f"  mamfast unlock {keys.SCAN_LOCK}\n\n"
        "Or use --no-run-lock to bypass it (two scans at once waste work and "
        "interleave their reports)."
    )


@contextlib.asynccontextmanager
async def scan_lock(engine: Engine[Any], *, enabled: bool = True) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    try:
        async with locks.held(
            engine.redis, keys.SCAN_LOCK, ttl=SCAN_LOCK_TTL, purpose="mamfast enqueue"
        ):
            yield
    except LockBusyError as exc:
        raise ScanLockedError(scan_lock_message(exc.holder)) from None


async def enqueue(
    engine: Engine[Any],
    paths: Sequence[Path] | None = None,
    *,
    asins: Sequence[str] = (),
    dry_run: bool = False,
    run_lock: bool = True,
) -> EnqueueReport:
    """Discover releases and submit each one (create its record, queue its job)."""
    if not paths:
        _check_library(engine.settings.library_dir)
    async with scan_lock(engine, enabled=run_lock and not dry_run):
        report, finished = await _scan(engine, list(paths) if paths else None)
        wanted = {a.strip().upper() for a in asins}
        releases = [  # what submitting them would say: already there and finished
            EnqueuedRelease(
                asin=k.asin,
                title=k.title,
                source_dir=k.source_dir,
                outcome=f"already-{finished[k.asin]}",
            )
            for k in report.known
            if not wanted or k.asin in wanted
        ]
        for candidate in report.releases:
            if wanted and candidate.asin not in wanted:
                continue
            releases.append(await _submit_isolated(engine, candidate.to_release(), dry_run))
        releases.sort(key=lambda r: r.source_dir)
        if not dry_run:
            submitted = [r.asin for r in releases if r.outcome in ("new", "queued")]
            await notify.record_batch(engine, submitted)
            if not paths and not wanted:  # a full scan: the schedule counts from here
                await engine.redis.set(keys.LAST_SCAN, time.time())
    return EnqueueReport(releases=releases, discovery=report)


async def _scan(
    engine: Engine[Any], paths: list[Path] | None
) -> tuple[DiscoveryReport, dict[str, Status]]:
    """The library scanned; unchanged folders whose release is finished are not read again.

    Whether a release is finished is asked of Redis on every scan, never assumed from the
    cache: after Redis lost its data, every folder is submitted again."""
    scan = await asyncio.to_thread(scan_library, engine.settings, paths)
    finished = await engine.store.finished(list(scan.unchanged()))
    report = await asyncio.to_thread(scan.report, finished)
    return report, finished


async def _submit_isolated(engine: Engine[Any], release: Release, dry_run: bool) -> EnqueuedRelease:
    """One release's submission; what goes wrong with it is its outcome, not the scan's end.

    Redis errors still end the scan: no release can be submitted without Redis.
    """
    try:
        return await _submit_one(engine, release, dry_run)
    except RedisError:
        raise
    except DamagedRecordError as exc:
        outcome, problem = "damaged", f"{exc.message}. What to do: {exc.hint}"
    except Exception as exc:
        log.exception("%s: could not be submitted", release.asin)
        outcome, problem = "failed", f"unexpected {type(exc).__name__}: {exc}"
    return EnqueuedRelease(
        asin=release.asin,
        title=release.title,
        source_dir=release.source_dir or "",
        outcome=outcome,
        problem=problem,
    )


def _check_library(library: Path | None) -> None:
    """A configured library that is not there is most likely an unmounted volume: say so
    instead of reporting an empty scan."""
    if library is not None and not library.is_dir():
        raise ConfigError(
            f"MAMFAST_LIBRARY_DIR {library} does not exist or is not a folder",
            hint="check the path (in Docker: the path inside the container) and that its "
            "disk or volume is mounted",
        )


async def _submit_one(engine: Engine[Any], release: Release, dry_run: bool) -> EnqueuedRelease:
    entry = EnqueuedRelease(
        asin=release.asin, title=release.title, source_dir=release.source_dir or "", outcome=""
    )
    existing = await engine.store.get(release.asin)
    if dry_run:
        entry.outcome = f"already-{existing.status}" if existing else "would-enqueue"
        return entry
    outcome = await submit(engine, release)
    stored = outcome.release
    if not outcome.created and stored.source_dir is None and release.source_dir:
        # A record imported from the old state file learns where its files are.
        await control.attach_source(engine, release)
    entry.job_id = None if stored.terminal else stored.job_id
    if outcome.created:
        entry.outcome = "new"
    elif stored.terminal:
        entry.outcome = f"already-{stored.status}"
    else:
        entry.outcome = "queued" if outcome.enqueued else f"already-{stored.status}"
    return entry
