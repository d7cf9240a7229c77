"""The torrent stage: staged folder -> TORRENT_DIR/<folder>/<folder>.torrent + infohash.

Idempotent: a torrent already on disk with the recorded infohash and the
staged folder's exact file list is reused without rehashing, as long as no
staged file's size or mtime changed since it was made (else it is rehashed
and must reproduce the recorded infohash). Deterministic:
the same folder always gives the same infohash, so a re-run after a crash
reproduces what was recorded; if it does not, the files changed, and the
stage stops (`InfohashMismatchError`) rather than turn one release into two
torrents.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

from mamfast.config import Settings
from mamfast.errors import InfohashMismatchError, TorrentError
from mamfast.fs.atomic import remove_temps
from mamfast.fs.containment import in_torrent_dir
from mamfast.fs.owner import file_owner, make_dirs
from mamfast.models import Release, StageOutput, StageResult
from mamfast.stages import ledger as ownership
from mamfast.stages.services import Services
from mamfast.stages.staging import staged_folder
from mamfast.torrents.create import (
    create_torrent,
    keep_private,
    with_announce,
    write_torrent_atomic,
)
from mamfast.torrents.files import Content, scan_content
from mamfast.torrents.mkbrr import MkbrrOptions, create_with_mkbrr
from mamfast.torrents.parse import TorrentMeta, parse_torrent, read_torrent

NO_ANNOUNCE = "announce: MAMFAST_ANNOUNCE_URL is not set; the torrent has no tracker"


def torrent_file(settings: Settings, folder: str) -> Path:
    """Where a release's .torrent lives: one folder per release (proven inside TORRENT_DIR)."""
    return in_torrent_dir(settings, settings.torrent_folder / folder / f"{folder}.torrent")


async def run(services: Services, release: Release) -> StageResult:
    settings = services.settings
    started = time.perf_counter()
    # Quick file system work, but never on the event loop (one slow NFS stat would stall
    # lease renewal): the default executor, so it never queues behind another hash.
    dest, content = await asyncio.to_thread(_inputs, settings, release)
    announce = settings.secret("announce_url")

    meta = await _reuse(settings, release, content, dest, announce)
    backend = "reused"
    if meta is None:
        backend = settings.torrent_backend
        if backend == "mkbrr":
            data = await _with_mkbrr(settings, content, dest, announce)
        else:
            data = await _with_builtin(services, release, content, announce)
        meta = parse_torrent(data)  # the same validation any torrent from disk gets
        # Before anything is written. With no infohash recorded (Redis lost its data), the
        # torrents already on disk for this ASIN are the record: no second one.
        await asyncio.to_thread(_no_second_torrent, settings, release, meta.infohash, dest)
        await asyncio.to_thread(_publish, settings, data, dest)
    return _result(dest, meta, content, backend, started)


def _inputs(settings: Settings, release: Release) -> tuple[Path, Content]:
    """Where the staged folder's torrent goes, and what goes in (blocking)."""
    staged = staged_folder(settings, release)
    dest = torrent_file(settings, staged.name)
    content = scan_content(staged)
    # We hold the release lock: a temp file there is a killed earlier write's.
    remove_temps(dest)
    return dest, content


def artifacts_missing(release: Release) -> str | None:
    """Why the torrent checkpoint no longer holds (None when it does). Blocking."""
    if not release.torrent_path:
        return "no torrent file is recorded"
    path = Path(release.torrent_path)
    if not path.is_file():
        return f"the torrent file {path} is gone"
    if release.infohash:
        try:
            found = read_torrent(path).infohash
        except TorrentError as exc:
            return f"the torrent file {path} is unreadable ({exc.message})"
        if found != release.infohash:
            return f"the torrent file {path} holds infohash {found}, not {release.infohash}"
    return None


async def _reuse(
    settings: Settings, release: Release, content: Content, dest: Path, announce: str | None
) -> TorrentMeta | None:
    """The recorded torrent, if it still describes the staged files (announce refreshed)."""
    if not release.infohash or _fingerprint(content) != release.torrent_fingerprint:
        return None
    meta = await asyncio.to_thread(_reusable, dest, content, release.infohash)
    if meta is not None:
        await asyncio.to_thread(keep_private, dest)
    if meta is not None and announce and _announce(meta) != announce:
        # announce sits outside info: updating it keeps the infohash
        meta = parse_torrent(with_announce(meta.data, announce))
        await asyncio.to_thread(_publish, settings, meta.data, dest)
    return meta


def _publish(settings: Settings, data: bytes, dest: Path) -> None:
    # We hold the release lock: no other writer of `dest` can be running.
    write_torrent_atomic(data, dest, owner=file_owner(settings), stale_after=0)


def _fingerprint(content: Content) -> str:
    """Names, sizes and mtimes of the staged files: cheap evidence that nothing was edited."""
    stamp = "\n".join(f"{f.relpath}\t{f.length}\t{f.mtime_ns}" for f in content.files)
    return hashlib.sha1(stamp.encode("utf-8")).hexdigest()


def _reusable(dest: Path, content: Content, infohash: str) -> TorrentMeta | None:
    """The torrent on disk, if it is the recorded one and lists exactly the staged files."""
    try:
        meta = read_torrent(dest)
    except TorrentError:
        return None  # missing or damaged: re-create (and compare with the recorded hash)
    staged = [(f.parts, f.length) for f in content.files]
    listed = [(f.path, f.length) for f in meta.files]
    if meta.infohash != infohash or meta.name != content.name or listed != staged:
        return None
    return meta


async def _with_builtin(
    services: Services, release: Release, content: Content, announce: str | None
) -> bytes:
    settings = services.settings

    async def progress(done: int, total: int) -> None:
        await services.report_progress(release.asin, "torrent", done, total)

    created = await create_torrent(
        content.root,
        source=settings.torrent_source,
        announce=announce,
        piece_exp=settings.torrent_piece_length,
        max_exp=settings.torrent_max_piece_length,
        workers=settings.torrent_workers,
        executor=services.hash_pool,
        progress=progress,
        content=content,
        disk_turns=services.disk_turns,
    )
    return created.data


async def _with_mkbrr(
    settings: Settings, content: Content, dest: Path, announce: str | None
) -> bytes:
    # mkbrr works in a folder inside the release's: that one is ours, with our owner.
    await asyncio.to_thread(make_dirs, dest.parent, file_owner(settings))
    meta = await create_with_mkbrr(content, dest.parent, MkbrrOptions.from_settings(settings))
    if announce and announce != _announce(meta):
        return with_announce(meta.data, announce)  # ours wins; the infohash is unchanged
    return meta.data


def _infohash_on_disk(dest: Path) -> str | None:
    try:
        return read_torrent(dest).infohash
    except TorrentError:
        return None  # none there, or unreadable: nothing to compare with


def _no_second_torrent(settings: Settings, release: Release, infohash: str, dest: Path) -> None:
    if release.infohash:
        _same_infohash(release, infohash, release.infohash)
        return
    _same_infohash(release, infohash, _infohash_on_disk(dest))
    for other in ownership.earlier_torrents(settings, release.asin):
        found = _infohash_on_disk(other)
        if other != dest and found and found != infohash:
            raise InfohashMismatchError(
                f"{other} is already a torrent for {release.asin} (infohash {found}), made "
                f"from a folder named differently than today's {dest.stem}; one release must "
                "never become two torrents",
                hint=f"if that torrent is not wanted any more, delete {other.parent} (and the "
                f"torrent in qBittorrent), then run `mamfast retry {release.asin}`",
            )


def _same_infohash(release: Release, infohash: str, recorded: str | None) -> None:
    if recorded and recorded != infohash:
        raise InfohashMismatchError(
            f"re-creating the torrent gave infohash {infohash}, but {recorded} is "
            f"recorded for {release.asin}: the staged files changed since the torrent was "
            "made, and one release must never become two torrents",
            hint="restore the original files; if they changed on purpose, run "
            f"`mamfast reset {release.asin} --stage torrent --forget-torrent`",
        )


def _result(
    dest: Path, meta: TorrentMeta, content: Content, backend: str, started: float
) -> StageResult:
    seconds = time.perf_counter() - started
    facts: dict[str, Any] = {
        "backend": backend,
        "piece_length": meta.piece_length,
        "piece_count": meta.piece_count,
        "bytes": meta.total_size,
        "files": len(meta.files),
        "seconds": round(seconds, 3),
    }
    return StageResult(
        output=StageOutput(
            torrent_path=str(dest),
            infohash=meta.infohash,
            torrent_fingerprint=_fingerprint(content),  # a later run reuses it only if equal
        ),
        display={"torrent": facts},
        warnings=[] if meta.announce else [NO_ANNOUNCE],
        hashed_bytes=0 if backend == "reused" else meta.total_size,
    )


def _announce(meta: TorrentMeta) -> str | None:
    return meta.announce.get_secret_value() if meta.announce else None
