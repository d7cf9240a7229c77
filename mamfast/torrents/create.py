"""Create a .torrent with the built-in parallel hasher, and write it atomically."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mamfast.errors import TorrentError, TransientError
from mamfast.fs.atomic import STALE_AFTER, write_atomic
from mamfast.fs.owner import NO_OWNER, Owner
from mamfast.torrents.disk import DiskTurns
from mamfast.torrents.files import Content, changed_files, scan_content
from mamfast.torrents.hasher import Progress, hash_pieces
from mamfast.torrents.metainfo import (
    build_info,
    created_by,
    encode,
    encode_torrent,
    infohash,
    split_torrent,
)
from mamfast.torrents.pieces import DEFAULT_MAX_EXP, choose_piece_exp


@dataclass(frozen=True)
class CreatedTorrent:
    """A torrent made in memory: its bytes, infohash and what went into it."""

    data: bytes
    info_bytes: bytes
    infohash: str
    content: Content
    piece_length: int
    piece_count: int
    hash_seconds: float

    @property
    def total_size(self) -> int:
        return self.content.total_size

    def details(self) -> dict[str, Any]:
        return {
            "piece_length": self.piece_length,
            "piece_count": self.piece_count,
            "bytes": self.total_size,
            "files": len(self.content.files),
            "seconds": round(self.hash_seconds, 3),
        }


async def create_torrent(
    path: Path,
    *,
    source: str | None,
    announce: str | None,
    piece_exp: int | None = None,
    max_exp: int = DEFAULT_MAX_EXP,
    workers: int | None = None,
    executor: Executor,
    progress: Progress | None = None,
    content: Content | None = None,
    creation_date: int | None = None,
    disk_turns: DiskTurns | None = None,
) -> CreatedTorrent:
    """Hash `path` (a folder or a file) into a private v1 torrent; nothing is written.

    `content` skips the folder listing when the caller already has it.
    `creation_date` defaults to now; it sits outside the info dict, so it never
    changes the infohash. With `disk_turns`, a large release hashes only while no
    other large one reads its disk.
    """
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    if content is None:
        content = await loop.run_in_executor(executor, scan_content, path)
    exp = choose_piece_exp(content.total_size, fixed=piece_exp, max_exp=max_exp)
    turn = (
        disk_turns.turn(content.root, content.total_size)
        if disk_turns is not None
        else contextlib.nullcontext(False)
    )
    async with turn:
        hashes = await hash_pieces(
            content.files, 1 << exp, executor=executor, workers=workers, progress=progress
        )
    changed = await loop.run_in_executor(executor, changed_files, content)
    if changed:
        raise TransientError(
            f"{', '.join(changed[:3])} changed while being hashed",
            hint="wait until nothing writes to the release folder; the job retries by itself",
        )
    info_bytes = encode(build_info(content, 1 << exp, hashes.digests, source=source))
    data = encode_torrent(
        info_bytes,
        announce=announce,
        created_by=created_by(),
        creation_date=int(time.time()) if creation_date is None else creation_date,
    )
    return CreatedTorrent(
        data=data,
        info_bytes=info_bytes,
        infohash=infohash(info_bytes),
        content=content,
        piece_length=1 << exp,
        piece_count=len(hashes.digests) // 20,
        hash_seconds=time.perf_counter() - started,
    )


def with_announce(data: bytes, announce: str | None) -> bytes:
    """The same torrent with another announce URL (outside info: same infohash)."""
    top, info_bytes = split_torrent(data)
    top.pop(b"info")
    top.pop(b"announce-list", None)
    return encode_torrent(
        info_bytes, announce=announce, created_by=None, creation_date=None, extra=top
    )


# The announce URL holds the passkey: owner and group (PGID, to upload it) may read a
# torrent, others may not. The umask can only take more away (UMASK=077 gives 0600).
TORRENT_MODE = 0o640


def write_torrent_atomic(
    data: bytes, dest: Path, *, owner: Owner = NO_OWNER, stale_after: float = STALE_AFTER
) -> None:
    """Write `dest` (mode TORRENT_MODE) so that it is either complete or absent, even
    across a crash: `fs.atomic.write_atomic`. Blocking: call it from a worker thread."""
    try:
        write_atomic(dest, data, owner=owner, mode=TORRENT_MODE, stale_after=stale_after)
    except OSError as exc:
        raise TorrentError(f"cannot write {dest}: {exc.strerror or exc}") from None


def keep_private(dest: Path) -> None:
    """Take away what others may do with a torrent written before TORRENT_MODE (was 0644)."""
    current = dest.stat().st_mode & 0o777
    if current & 0o007:
        dest.chmod(current & ~0o007)
