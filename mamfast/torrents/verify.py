"""Check data on disk against a torrent: rehash every piece and compare.

Like a client's recheck: files are found by their relative path under the
content folder; a missing or short file counts as wrong data (its pieces
fail), a file of the wrong size is reported as such.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from mamfast.torrents.hasher import Progress, hash_pieces
from mamfast.torrents.parse import TorrentMeta


@dataclass(frozen=True)
class _DiskFile:
    path: Path
    length: int


@dataclass(frozen=True)
class VerifyResult:
    piece_count: int
    bad_pieces: tuple[int, ...]
    missing: tuple[str, ...]  # files not on disk (or unreadable)
    wrong_size: tuple[str, ...]  # files on disk whose size differs from the torrent
    first_bad_files: tuple[str, ...]  # the files the first bad piece covers
    total_size: int
    seconds: float

    @property
    def ok(self) -> bool:
        return not (self.bad_pieces or self.missing or self.wrong_size)

    @property
    def first_bad(self) -> int | None:
        return self.bad_pieces[0] if self.bad_pieces else None


def content_root(meta: TorrentMeta, path: Path) -> Path:
    """The folder (or file) the torrent's paths are relative to.

    Accepts the content itself or the folder holding it (a client's save path).
    """
    if meta.multi_file:
        nested = path / meta.name
        return nested if path.name != meta.name and nested.is_dir() else path
    return path / meta.name if path.is_dir() else path


def disk_files(meta: TorrentMeta, root: Path) -> list[_DiskFile]:
    if not meta.multi_file:
        return [_DiskFile(root, meta.files[0].length)]
    return [_DiskFile(root.joinpath(*f.path), f.length) for f in meta.files]


def files_of_piece(meta: TorrentMeta, index: int) -> tuple[str, ...]:
    """Relative paths of the files that hold bytes of piece `index`."""
    offsets = []
    total = 0
    for f in meta.files:
        offsets.append(total)
        total += f.length
    start = index * meta.piece_length
    end = min(start + meta.piece_length, total)
    first = bisect.bisect_right(offsets, start) - 1
    found = []
    for i in range(max(first, 0), len(meta.files)):
        f = meta.files[i]
        if offsets[i] >= end:
            break
        if f.length and offsets[i] + f.length > start:
            found.append(f.relpath)
    return tuple(found)


async def verify(
    meta: TorrentMeta,
    path: Path,
    *,
    executor: Executor,
    workers: int | None = None,
    progress: Progress | None = None,
) -> VerifyResult:
    """Rehash the content at `path` and compare every piece with `meta`."""
    started = time.perf_counter()
    root = content_root(meta, path)
    files = disk_files(meta, root)
    missing, wrong_size = await asyncio.get_running_loop().run_in_executor(
        executor, _check_sizes, meta, files
    )
    hashes = await hash_pieces(
        files,
        meta.piece_length,
        executor=executor,
        workers=workers,
        progress=progress,
        strict=False,
    )
    unreadable = {meta.files[i].relpath for i in hashes.unreadable}
    bad: tuple[int, ...] = ()
    if hashes.digests != meta.pieces:
        bad = tuple(i for i in range(meta.piece_count) if hashes.digest(i) != meta.piece_digest(i))
    return VerifyResult(
        piece_count=meta.piece_count,
        bad_pieces=bad,
        missing=tuple(sorted(set(missing) | (unreadable - set(wrong_size)))),
        wrong_size=tuple(wrong_size),
        first_bad_files=files_of_piece(meta, bad[0]) if bad else (),
        total_size=meta.total_size,
        seconds=time.perf_counter() - started,
    )


def _check_sizes(meta: TorrentMeta, files: list[_DiskFile]) -> tuple[list[str], list[str]]:
    missing, wrong = [], []
    for want, disk in zip(meta.files, files, strict=True):
        try:
            size = disk.path.stat().st_size
        except OSError:
            missing.append(want.relpath)
            continue
        if size != want.length:
            wrong.append(want.relpath)
    return missing, wrong
