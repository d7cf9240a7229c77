"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The one writer for every file mamfast replaces (fast-fill JSON, description, .torrent,
staging ledger, discovery cache, command outputs):

1. missing folders are created with the file's owner (`fs.owner`);
2. the data goes to a hidden temp file in the same folder (a random name, created
   exclusively), which gets its owner and mode and is fsynced;
3. the temp file is renamed over the target (atomic on POSIX);
4. the folder is fsynced, so the rename itself survives a power cut. A filesystem that
   cannot sync a folder says so (EINVAL and the like): that is as durable as it gets
   there, so it is not an error; any other failure is.

A full or read-only disk is said in plain words (`errors.disk_error`). A process killed
mid-write leaves only a hidden temp file, which a later write of the same target
removes (at once when the caller is the only possible writer: `stale_after=0`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from pathlib import Path

from mamfast.errors import disk_error
from mamfast.fs.owner import FILE_MODE, NO_OWNER, Owner, make_dirs

STALE_AFTER = 60.0  # seconds; younger temp files may belong to a writer still running

# A folder fsync that fails with one of these means "not possible here", not "failed".
_CANNOT_SYNC_FOLDER = frozenset(
    {errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES, errno.EPERM}
)


def write_atomic(
    path: Path,
    data: str | bytes,
    *,
    owner: Owner = NO_OWNER,
    mode: int = FILE_MODE,
    stale_after: float = STALE_AFTER,
) -> None:
    """Replace `path` with `data` atomically, as `owner` with `mode` (less the umask).

    A caller that is the only possible writer of `path` (it holds a lock) passes
    `stale_after=0`, so a killed earlier write's temp file goes at once.
    Blocking: call it from a worker thread in async code.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        _write_atomic(path, payload, owner, mode, stale_after)
    except OSError as exc:
        translated = disk_error(exc, path.parent)
        if translated is None:
            raise
        raise translated from None


def temp_files(path: Path) -> list[Path]:
    """Temp files a write of `path` left behind (a writer killed, or one still running)."""
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def remove_temps(path: Path, stale_after: float = 0.0) -> None:
    """Remove `path`'s temp files older than `stale_after` seconds."""
    cutoff = time.time() - stale_after
    for temp in temp_files(path):
        with contextlib.suppress(OSError):
            if temp.stat().st_mtime <= cutoff:
                temp.unlink()


def _write_atomic(path: Path, payload: bytes, owner: Owner, mode: int, stale_after: float) -> None:
    make_dirs(path.parent, owner)
    remove_temps(path, stale_after)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            owner.apply_fd(fd, path, base=mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno not in _CANNOT_SYNC_FOLDER:
            raise
