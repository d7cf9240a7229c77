"""Seed folder clean-up: folders mamfast staged that no release uses any more.

The seed folder is often shared with other downloads and with folders people
(or the old tool) staged by hand under the same `{ASIN.X}` names, so a name is
never a reason to delete. A folder is a candidate only when mamfast provably
made it: the staging ledger (`ownership`) lists it, or it is the hidden partial
folder of an ASIN that has a ledger. Even then it is kept when

* a release record points at it, or its record is damaged (which folder it
  uses cannot be told);
* its release is being processed (the release lock is held: staging renames
  the folder before it commits the record, under that lock), or it changed
  within the last lease;
* a torrent in qBittorrent uses it, or no torrent client is configured (then
  mamfast cannot know whether it is seeded by hand): partial folders excepted,
  nothing is ever seeded from those;
* it holds files with a single link (not hardlinks into the library).

Nothing is removed without `apply`; with it, each ASIN's folders are judged and
removed under that release's lock, so no stage can start on them meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from mamfast.clients.qbit import QbitClient
from mamfast.config import Settings
from mamfast.engine import keys, locks
from mamfast.engine.engine import Engine
from mamfast.errors import DamagedRecordError, MamfastError
from mamfast.fs.containment import in_seed
from mamfast.pathmap import PathMap
from mamfast.stages import ledger as ownership
from mamfast.stages.staging import PARTIAL_PREFIX

InUse = Callable[[Path], Awaitable[bool]]
Kind = Literal["partial", "orphan"]
Found = list[tuple[Path, Kind]]


async def client_in_use(settings: Settings, qbit: QbitClient | None) -> InUse | None:
    """`in_use` backed by qBittorrent (None without a client: nothing can be told).

    A folder is in use when a torrent's content is in it. The client's list is read
    once, up front; if it cannot be read, this raises: nothing may be removed while we
    cannot tell what is being seeded.
    """
    if qbit is None:
        return None
    mapping = PathMap.parse(settings.qbit_path_map, setting="MAMFAST_QBIT_PATH_MAP")
    try:
        torrents = await qbit.torrents()
    except MamfastError as exc:
        raise MamfastError(
            f"cannot ask qBittorrent which folders it seeds ({exc.message}); nothing was removed",
            hint="start qBittorrent (or fix MAMFAST_QBIT_URL) and run the clean-up again",
        ) from None
    # save_path/name is the torrent's top folder (or its one file). content_path is not
    # used: qBittorrent 4.5 reports it relative until a new torrent has been checked.
    used = [Path(mapping.to_ours(t.save_path)) / t.name for t in torrents if t.save_path]

    async def in_use(path: Path) -> bool:
        return any(p == path or path in p.parents or p in path.parents for p in used)

    return in_use


class CleanupItem(BaseModel):
    path: Path
    kind: Kind
    action: Literal["removed", "would remove", "kept"]
    reason: str


class CleanupReport(BaseModel):
    dry_run: bool
    items: list[CleanupItem] = Field(default_factory=list)

    @property
    def removable(self) -> list[CleanupItem]:
        return [i for i in self.items if i.action != "kept"]


async def cleanup(
    engine: Engine[Any], *, in_use: InUse | None, apply: bool = False
) -> CleanupReport:
    """List (and with `apply`, remove) folders mamfast staged that nothing uses."""
    report = CleanupReport(dry_run=not apply)
    ledger = await asyncio.to_thread(ownership.all_made, engine.settings)
    for asin, names in sorted(ledger.items()):
        report.items += await _one_release(engine, _Judge(engine, asin, in_use), names, apply)
    return report


async def _one_release(
    engine: Engine[Any], judge: _Judge, names: list[str], apply: bool
) -> list[CleanupItem]:
    found = await asyncio.to_thread(judge.candidates, names)
    if not found:
        return []
    if not apply:
        if await engine.redis.exists(keys.release_lock(judge.asin)):
            return [judge.keep(p, k, f"{judge.asin} is being processed now") for p, k in found]
        return await judge.items(found)
    lease = await locks.try_acquire(
        engine.redis,
        keys.release_lock(judge.asin),
        ttl=engine.settings.lock_ttl,
        purpose="mamfast cleanup",
        fence_key=keys.fence(judge.asin),  # a stage that lost its lease cannot commit now
    )
    if lease is None:
        return [judge.keep(p, k, f"{judge.asin} is being processed now") for p, k in found]
    try:
        items = await judge.items(found)
        for item in items:
            if item.action != "kept":
                await asyncio.to_thread(judge.remove, item)
        return items
    finally:
        await locks.release(engine.redis, lease)


@dataclass
class _Judge:
    engine: Engine[Any]
    asin: str
    in_use: InUse | None

    def candidates(self, names: list[str]) -> Found:
        seed = self.engine.settings.seed_folder
        found: Found = []
        partial = seed / f"{PARTIAL_PREFIX}{self.asin}"
        if partial.is_dir() and not partial.is_symlink():
            found.append((partial, "partial"))
        for name in names:
            folder = seed / name
            if folder.is_dir() and not folder.is_symlink():
                found.append((folder, "orphan"))
        return found

    def keep(self, path: Path, kind: Kind, reason: str) -> CleanupItem:
        return CleanupItem(path=path, kind=kind, action="kept", reason=reason)

    async def items(self, found: Found) -> list[CleanupItem]:
        """The verdict on each folder; the one the release uses is no leftover and not listed."""
        try:
            record = await self.engine.store.get(self.asin)
        except DamagedRecordError:
            reason = f"the record of {self.asin} is damaged, so which folder it uses is unknown"
            return [self.keep(path, kind, reason) for path, kind in found]
        used = Path(record.staging_dir).name if record and record.staging_dir else None
        return [await self._item(path, kind) for path, kind in found if path.name != used]

    async def _item(self, path: Path, kind: Kind) -> CleanupItem:
        reason = await self._why_kept(path, kind)
        if reason is not None:
            return self.keep(path, kind, reason)
        why = (
            "left by an interrupted stage"
            if kind == "partial"
            else "staged by mamfast, no release uses it and no torrent in qBittorrent does"
        )
        return CleanupItem(path=path, kind=kind, action="would remove", reason=why)

    async def _why_kept(self, path: Path, kind: str) -> str | None:
        age = time.time() - await asyncio.to_thread(_changed_at, path)
        if age < self.engine.settings.lock_ttl:
            return f"changed moments ago ({age:.0f}s); a stage may still be working on it"
        if kind == "partial":
            return None
        if self.in_use is None:
            return (
                "no torrent client is configured (MAMFAST_QBIT_URL), so mamfast cannot tell "
                "whether you seed it; delete it by hand if you do not"
            )
        if await self.in_use(path):
            return "a torrent in qBittorrent uses it"
        if await asyncio.to_thread(_holds_only_copy, path):
            return (
                "it holds files that exist nowhere else (not hardlinks); delete it by hand "
                "if you are sure"
            )
        return None

    def remove(self, item: CleanupItem) -> None:
        shutil.rmtree(in_seed(self.engine.settings, item.path))
        if item.kind == "orphan":
            ownership.drop_made(self.engine.settings, self.asin, item.path.name)
        item.action = "removed"


def _changed_at(path: Path) -> float:
    return path.stat().st_mtime


def _holds_only_copy(folder: Path) -> bool:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if (Path(root) / name).lstat().st_nlink < 2:
                return True
    return False
