"""The upload stage: add the release's torrent to qBittorrent once and see it seed.

Steps (each safe to repeat; a re-run after a crash or a retry takes the same path):

1. Read the .torrent the torrent stage wrote and check its infohash against the
   recorded one (that hash is the lock key and what we look up).
2. Work out qBittorrent's save path: the parent of the staged folder (the torrent's
   top folder is the staged folder, kept by the "Original" layout), translated
   through MAMFAST_QBIT_PATH_MAP into qBittorrent's view of the disk.
3. Under the per-infohash Redis lock: look the hash up, add if absent, settle an
   ambiguous answer by looking again (`QbitClient.add`). A torrent left from an
   earlier attempt with a wrong save path (the map was fixed since) is pointed at
   the corrected path; a paused torrent that shows incomplete is rechecked, because
   qBittorrent never checks paused torrents by itself.
4. Watch it until it seeds. A torrent that shows missing files or settles below
   100% means qBittorrent looks somewhere else than where the data is: nothing is
   removed, the release goes to needs_attention naming the setting to fix.

Without MAMFAST_QBIT_URL there is nothing to add: the release ends `ready`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mamfast.clients.qbit import (
    AddOptions,
    AddResult,
    QbitClient,
    SeedCheck,
    SeedVerdict,
    TorrentView,
    same_path,
)
from mamfast.config import Settings
from mamfast.engine import keys, locks
from mamfast.errors import (
    InfohashMismatchError,
    InputError,
    LockBusyError,
    MamfastError,
    TorrentError,
    TransientError,
    UploadError,
)
from mamfast.models import Release, StageOutput, StageResult, Status
from mamfast.pathmap import PathMap
from mamfast.stages.services import Services
from mamfast.stages.staging import staged_folder
from mamfast.torrents import parse
from mamfast.torrents.parse import TorrentMeta

log = logging.getLogger(__name__)

PATH_MAP_SETTING = "MAMFAST_QBIT_PATH_MAP"
ADD_LOCK_WAIT = 30.0  # an add under the lock takes milliseconds, at most CONFIRM_SECONDS


@dataclass(frozen=True)
class SavePaths:
    ours: str  # where the torrent's top entry lives, in our view
    theirs: str  # the same in qBittorrent's view: what we send as save_path


async def run(services: Services, release: Release) -> StageResult:
    if services.qbit is None:
        note = {"added": False, "reason": "MAMFAST_QBIT_URL is not set"}
        return StageResult(final_status=Status.READY, display={"qbit": note})
    started = time.monotonic()
    # Reading the .torrent and checking the staged folder touch the disk: in a thread, so
    # a slow one never holds up the event loop (and the lease renewal on it).
    torrent, paths = await asyncio.to_thread(_torrent_and_paths, services.settings, release)
    options = AddOptions.from_settings(services.settings, paths.theirs)
    result, moved_from = await _add_once(services, services.qbit, release, torrent, options)
    check = await services.qbit.wait_seeding(
        torrent.infohash, timeout=services.settings.qbit_seed_timeout
    )
    if not check.ok or check.torrent is None:
        raise _not_seeding(services, release, check, options, paths)
    seconds = time.monotonic() - started
    log.info(
        "%s: %s in qBittorrent (%s) after %.2fs, save path %s",
        release.asin,
        "added" if result.added else "already",
        check.torrent.state,
        seconds,
        options.save_path,
    )
    warnings = []
    if check.verdict is SeedVerdict.PAUSED_COMPLETE and not options.paused:
        warnings.append("qbit-paused: the torrent is paused in qBittorrent; resume it to seed")
    return StageResult(
        final_status=Status.COMPLETE,
        output=StageOutput(infohash=torrent.infohash if release.infohash is None else None),
        display={"qbit": _record(result, check, options, paths, seconds, moved_from)},
        warnings=warnings,
    )


def _torrent_and_paths(settings: Settings, release: Release) -> tuple[TorrentMeta, SavePaths]:
    torrent = read_torrent(release)
    path_map = PathMap.parse(settings.qbit_path_map, setting=PATH_MAP_SETTING)
    staged_folder(settings, release)  # inside MAMFAST_SEED_DIR: qBittorrent writes there
    return torrent, save_paths(release, torrent, path_map)


# --------------------------------------------------------------------------- torrent file


def read_torrent(release: Release) -> TorrentMeta:
    """The .torrent the torrent stage wrote, checked against the recorded infohash (blocking)."""
    if not release.torrent_path:
        raise TorrentError("no .torrent is recorded for this release", hint=_redo_torrent(release))
    path = Path(release.torrent_path)
    try:
        torrent = parse.read_torrent(path)
    except TorrentError as exc:
        raise TorrentError(exc.message, hint=_redo_torrent(release)) from None
    if release.infohash and release.infohash.lower() != torrent.infohash:
        raise InfohashMismatchError(
            f"{path} has infohash {torrent.infohash}, but {release.infohash} was recorded",
            hint=f"{_redo_torrent(release)}; add --forget-torrent only if the staged files "
            "were changed on purpose",
        )
    return torrent


def _redo_torrent(release: Release) -> str:
    return f"re-create the torrent: `mamfast reset {release.asin} --stage torrent`"


# --------------------------------------------------------------------------- paths


def save_paths(release: Release, torrent: TorrentMeta, path_map: PathMap) -> SavePaths:
    """qBittorrent's save path: where the torrent's top entry (the staged folder) lives."""
    if not release.staging_dir:
        raise InputError("no staged folder is recorded for this release", hint=_redo_stage(release))
    staged = PurePosixPath(release.staging_dir)
    if not Path(staged).is_dir():
        raise InputError(f"the staged folder {staged} is gone", hint=_redo_stage(release))
    if torrent.multi_file:
        if torrent.name != staged.name:
            raise TorrentError(
                f"the torrent's top folder is {torrent.name!r} but the staged folder is "
                f"{staged.name!r}",
                hint=_redo_torrent(release),
            )
        ours = str(staged.parent)
    else:
        ours = str(staged)  # a single-file torrent: the file sits inside the staged folder
    return SavePaths(ours=ours, theirs=path_map.to_theirs(ours))


def _redo_stage(release: Release) -> str:
    return f"stage it again: `mamfast reset {release.asin} --stage stage`"


# --------------------------------------------------------------------------- add


async def _add_once(
    services: Services,
    qbit: QbitClient,
    release: Release,
    torrent: TorrentMeta,
    options: AddOptions,
) -> tuple[AddResult, str | None]:
    """Add under the infohash lock; also repair a torrent left by an earlier attempt."""
    try:
        async with locks.held(
            services.redis,
            keys.infohash_lock(torrent.infohash),
            ttl=services.settings.lock_ttl,
            purpose=f"qBittorrent add for {release.asin}",
            wait=ADD_LOCK_WAIT,
        ):
            result = await qbit.add(torrent.data, torrent.infohash, options)
            moved_from = await _repair(qbit, result.torrent, options)
    except LockBusyError as exc:
        raise TransientError(
            f"another worker is still adding torrent {torrent.infohash} ({exc.message})",
            retry_after=2.0,
        ) from None
    return result, moved_from


async def _repair(qbit: QbitClient, view: TorrentView, options: AddOptions) -> str | None:
    """Point a torrent that cannot find its files at our save path.

    Only a torrent that is not complete is touched: one that seeds from another
    path was put there by the user and is left alone. Returns the old save path
    when it was changed.
    """
    if view.lacks_data and not same_path(view.save_path, options.save_path):
        log.warning(
            "torrent %s is at %s (%s); moving it to %s",
            view.hash,
            view.save_path,
            view.describe(),
            options.save_path,
        )
        # qBittorrent moves what it has at the old path (it found nothing usable there)
        # and checks the new one; our files at the new path are kept.
        await qbit.set_location(view.hash, options.save_path)
        return view.save_path
    return None


# --------------------------------------------------------------------------- outcome


def _record(
    result: AddResult,
    check: SeedCheck,
    options: AddOptions,
    paths: SavePaths,
    seconds: float,
    moved_from: str | None,
) -> dict[str, Any]:
    view = check.torrent
    assert view is not None
    record: dict[str, Any] = {
        "added": result.added,
        "answer": result.answer,
        "save_path": options.save_path,
        "our_save_path": paths.ours,
        "client_save_path": view.save_path,
        "state": view.state,
        "progress": view.progress,
        "paused": options.paused,
        "skip_checking": options.skip_checking,
        "seconds": round(seconds, 3),
        "seed_seconds": round(check.seconds, 3),
    }
    if moved_from is not None:
        record["moved_from"] = moved_from
    return record


def _not_seeding(
    services: Services, release: Release, check: SeedCheck, options: AddOptions, paths: SavePaths
) -> MamfastError:
    view = check.torrent
    if check.verdict is SeedVerdict.TIMEOUT:
        seen = view.describe() if view else "nothing"
        error = f"; last error: {check.last_error}" if check.last_error else ""
        return TransientError(
            f"qBittorrent did not reach a seeding state within {check.seconds:.0f}s "
            f"(it reports {seen}{error})",
            hint="a large torrent takes a while to check; MAMFAST_QBIT_SEED_TIMEOUT sets the wait",
        )
    if check.verdict is SeedVerdict.GONE or view is None:
        # Most likely qBittorrent restarted before saving a torrent added a moment
        # earlier (4.5 does lose those); the next attempt looks it up and adds it again.
        return TransientError(
            "the torrent vanished from qBittorrent while mamfast waited for it to seed",
            hint="it is added again on the next attempt",
        )
    return UploadError(
        f"qBittorrent cannot find the staged files: it reports {view.describe()} with save "
        f"path {view.save_path} (we sent {options.save_path}; our folder is "
        f"{release.staging_dir})",
        hint=_path_map_hint(services, release, paths),
    )


def _path_map_hint(services: Services, release: Release, paths: SavePaths) -> str:
    current = services.settings.qbit_path_map
    if current:
        fix = (
            f"{PATH_MAP_SETTING}={current} maps our {paths.ours} to {paths.theirs}, where "
            "qBittorrent finds no such files: correct that pair"
        )
    else:
        fix = (
            f"qBittorrent sees the data under another path: set {PATH_MAP_SETTING} to "
            f"our_path:qbittorrent_path pairs (e.g. {paths.ours}:/data/...)"
        )
    return (
        f"{fix}, then run `mamfast retry {release.asin}`; the torrent was left in "
        "qBittorrent and is pointed at the corrected path"
    )
