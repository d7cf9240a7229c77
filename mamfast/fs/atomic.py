"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Write to a temp file in the same folder, fsync it, rename it over the target
(atomic on POSIX), then fsync the folder so the rename itself survives a power
cut. A process killed mid-write leaves only a hidden temp file, which the
next write of the same target removes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

from mamfast.errors import disk_error

STALE_AFTER = 60.0  # seconds; younger temp files may belong to a writer still running


def write_atomic(
    path: Path,
    data: str | bytes,
    *,
    owner: tuple[int, int] | None = None,
    stale_after: float = STALE_AFTER,
) -> None:
    """Replace `path` with `data` atomically; `owner` (uid, gid, -1 = keep) is applied first.

    A caller that is the only possible writer of `path` (it holds a lock) passes
    `stale_after=0`, so a killed earlier write's temp file goes at once.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        _write_atomic(path, payload, owner, stale_after)
    except OSError as exc:
        translated = disk_error(exc, path.parent)
        if translated is None:
            raise
        raise translated from None


def _write_atomic(
    path: Path, payload: bytes, owner: tuple[int, int] | None, stale_after: float
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path, stale_after)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            if owner is not None:
                os.fchown(fd, *owner)
            os.fsync(fd)
        finally:
            os.close(fd)
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_dir(path.parent)


def _remove_stale_temps(path: Path, stale_after: float) -> None:
    cutoff = time.time() - stale_after
    for temp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if temp.stat().st_mtime <= cutoff:
                temp.unlink()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
