"""Seed folder clean-up: leftover partial folders and staged folders no release owns.

Only folders mamfast made are candidates: `.mamfast-partial-<ASIN>` and
folders whose name carries a valid `{ASIN.X}` token. The seed folder is often
shared with other downloads, so everything else is left alone, and so is:

* a partial folder whose release is being staged right now (its lock is held);
* a folder a torrent in the client still uses (`in_use`, injected: the
  qBittorrent check lives with the client code);
* a folder holding files with a single link: those are not hardlinks into
  the library, and deleting them could lose the only copy.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from mamfast import keys
from mamfast.containment import in_seed
from mamfast.discovery import asin_in_name
from mamfast.errors import MamfastError
from mamfast.pathmap import PathMap
from mamfast.resources import Resources
from mamfast.stages.staging import PARTIAL_PREFIX

InUse = Callable[[Path], Awaitable[bool]]


async def nothing_in_use(path: Path) -> bool:
    """The default `in_use`: no torrent client configured, so nothing is in use."""
    return False


async def client_in_use(res: Resources) -> InUse:
    """`in_use` backed by qBittorrent: a folder is in use when a torrent's content is in it.

    The client's list is read once, up front. If it cannot be read, this raises:
    nothing may be removed while we cannot tell what is being seeded.
    """
    if res.qbit is None:
        return nothing_in_use
    mapping = PathMap.parse(res.settings.qbit_path_map, setting="MAMFAST_QBIT_PATH_MAP")
    try:
        torrents = await res.qbit.torrents()
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
    kind: Literal["partial", "unowned"]
    action: Literal["removed", "would remove", "kept"]
    reason: str


class CleanupReport(BaseModel):
    dry_run: bool
    items: list[CleanupItem] = Field(default_factory=list)

    @property
    def removable(self) -> list[CleanupItem]:
        return [i for i in self.items if i.action != "kept"]


async def cleanup(
    res: Resources, *, in_use: InUse = nothing_in_use, dry_run: bool = True
) -> CleanupReport:
    """List (and unless `dry_run`, remove) leftovers in MAMFAST_SEED_DIR."""
    report = CleanupReport(dry_run=dry_run)
    seed = res.settings.seed_path
    owned = {
        Path(r.staging_dir).name
        for r in await res.store.all()
        if r.staging_dir and Path(r.staging_dir).parent == seed
    }
    for folder in await asyncio.to_thread(_folders, seed):
        item = await _judge(res, folder, owned, in_use)
        if item is None:
            continue
        if item.action != "kept":
            if dry_run:
                item.action = "would remove"
            else:
                await asyncio.to_thread(shutil.rmtree, in_seed(res.settings, folder))
                item.action = "removed"
        report.items.append(item)
    return report


def _folders(seed: Path) -> list[Path]:
    if not seed.is_dir():
        return []
    return sorted(Path(e.path) for e in os.scandir(seed) if e.is_dir(follow_symlinks=False))


async def _judge(
    res: Resources, folder: Path, owned: set[str], in_use: InUse
) -> CleanupItem | None:
    name = folder.name
    if name.startswith(PARTIAL_PREFIX):
        asin = name.removeprefix(PARTIAL_PREFIX)
        if await res.redis.exists(keys.release_lock(asin)):
            return CleanupItem(
                path=folder, kind="partial", action="kept", reason=f"{asin} is being staged now"
            )
        return CleanupItem(
            path=folder, kind="partial", action="removed", reason="left by an interrupted stage"
        )
    found = asin_in_name(name)
    if found is None or name in owned:
        return None  # not ours, or a release's current folder
    if await in_use(folder):
        return CleanupItem(
            path=folder,
            kind="unowned",
            action="kept",
            reason="no release owns it, but a torrent in the client still uses it",
        )
    if await asyncio.to_thread(_holds_only_copy, folder):
        return CleanupItem(
            path=folder,
            kind="unowned",
            action="kept",
            reason="no release owns it, but it holds files that exist nowhere else "
            "(not hardlinks); delete it by hand if you are sure",
        )
    return CleanupItem(
        path=folder,
        kind="unowned",
        action="removed",
        reason=f"no release record owns it (ASIN {found})",
    )


def _holds_only_copy(folder: Path) -> bool:
    return any(path.lstat().st_nlink < 2 for path in folder.rglob("*") if not path.is_dir())
