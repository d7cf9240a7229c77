"""`mamfast state prune`: forget releases whose book left the library.

A record whose source folder is gone (the book was removed from Libation's library,
or moved: the next scan makes a new record for its new place) only clutters `status`
and keeps failing. Pruning removes such records, and only records: never a file.

Kept even though the source is gone, and why:

* a `complete` or `ready` release whose staged folder is still there: its hardlinks
  hold the book, qBittorrent may seed it (or you may still upload it), and its record
  is what `status`, `cleanup` and the upload step know it by, and the guard that the
  same book never becomes a second torrent. Remove the torrent and the staged folder
  (`mamfast cleanup`), then prune;
* a record with no source folder at all: `state import` made it from the old tool's
  state so that a finished book is never redone; it never had a folder to lose;
* a release being worked on (its lock is held) and a damaged record (`state forget`).

The decision is made again under the release's lock just before the record goes, so a
worker that is staging it, or a scan that just attached a new source, wins.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from mamfast.engine import control, keys
from mamfast.engine.engine import Engine
from mamfast.errors import ConfigError, LockBusyError
from mamfast.models import Release, Status

Action = Literal["pruned", "would prune", "kept"]
LOCK_WAIT = 2.0


class PruneItem(BaseModel):
    asin: str
    title: str
    source_dir: str | None
    action: Action
    reason: str


class PruneReport(BaseModel):
    dry_run: bool
    items: list[PruneItem] = Field(default_factory=list)
    damaged: list[str] = Field(default_factory=list)

    @property
    def prunable(self) -> list[PruneItem]:
        return [i for i in self.items if i.action != "kept"]


def judge(release: Release) -> tuple[bool, str] | None:
    """None while the source is there; else (prune?, why). Blocking (stats folders)."""
    if release.source_dir is None:
        return None
    if Path(release.source_dir).is_dir():
        return None
    gone = f"its source folder {release.source_dir} is gone"
    staged = Path(release.staging_dir) if release.staging_dir else None
    if release.status in (Status.COMPLETE, Status.READY) and staged and staged.is_dir():
        what = "may be seeding" if release.status is Status.COMPLETE else "is ready to upload"
        return False, (
            f"{gone}, but it is {release.status} and its staged folder {staged} is still "
            f"there (it {what}): remove the torrent and run `mamfast cleanup` first"
        )
    return True, gone


async def prune(engine: Engine[Any], *, apply: bool = False) -> PruneReport:
    """List (with `apply`, remove) records whose source left the library; never a file."""
    library = engine.settings.library_dir
    if library is not None and not library.is_dir():
        # An unmounted volume would make every book look gone.
        raise ConfigError(
            f"MAMFAST_LIBRARY_DIR {library} does not exist or is not a folder, so every book "
            "would look gone; nothing was pruned",
            hint="mount the library (in Docker: check the /data volume), then prune again",
        )
    records, damaged = await engine.store.read_many(await engine.store.asins())
    report = PruneReport(dry_run=not apply, damaged=[d.asin for d in damaged])
    for release in records:
        verdict = await asyncio.to_thread(judge, release)
        if verdict is None:
            continue
        prunable, reason = verdict
        if not prunable:
            report.items.append(_item(release, "kept", reason))
        elif not apply:
            report.items.append(_item(release, "would prune", reason))
        else:
            report.items.append(await _prune_one(engine, release.asin))
    return report


def _item(release: Release, action: Action, reason: str) -> PruneItem:
    return PruneItem(
        asin=release.asin,
        title=release.title,
        source_dir=release.source_dir,
        action=action,
        reason=reason,
    )


async def _prune_one(engine: Engine[Any], asin: str) -> PruneItem:
    """Judge again under the release lock, then drop the record and its infohash claim."""
    try:
        async with control.held_release(engine, asin, "mamfast state prune", wait=LOCK_WAIT):
            release = await engine.store.get(asin)
            if release is None:
                return PruneItem(
                    asin=asin, title="", source_dir=None, action="kept", reason="already gone"
                )
            verdict = await asyncio.to_thread(judge, release)
            if verdict is None or not verdict[0]:
                why = verdict[1] if verdict else "its source folder is back"
                return _item(release, "kept", why)
            await engine.store.delete(asin)
            if release.infohash and await engine.store.infohash_owner(release.infohash) == asin:
                await engine.redis.delete(keys.infohash_owner(release.infohash))
            return _item(release, "pruned", verdict[1])
    except LockBusyError:
        release = await engine.store.get(asin)
        title = release.title if release else ""
        return PruneItem(
            asin=asin,
            title=title,
            source_dir=release.source_dir if release else None,
            action="kept",
            reason="it is being worked on (its lock is held); prune again later",
        )
