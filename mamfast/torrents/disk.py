"""Hash concurrency per disk: one large release at a time reads a device.

Two hash jobs reading one spinning disk at once make it seek between them and
lose most of its throughput; on an SSD or in the page cache it costs nothing
to take turns. So a release of `big` bytes or more (1 GiB by default) hashes
only while it holds its device's turn, keyed by the device number (`st_dev`)
of the release's folder; smaller releases never wait and overlap freely.

The turn is an exclusive `flock` on `<folder>/device-<st_dev>.lock`, so it
holds across worker processes and containers sharing the data dir, and the
kernel releases it when the holder's process dies (a killed worker never
leaves a disk locked). Waiting polls a non-blocking `flock`, so a cancelled
job stops waiting at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from mamfast.errors import FolderPermissionError, TransientError
from mamfast.fs.owner import NO_OWNER, Owner, file_owner, make_dirs

if TYPE_CHECKING:
    from mamfast.config import Settings

BIG_RELEASE = 1 << 30
POLL_SECONDS = 0.2


class DiskTurns:
    """Who may read a device now; one per worker (or command), over a shared folder."""

    def __init__(
        self,
        folder: Path,
        *,
        big: int = BIG_RELEASE,
        poll: float = POLL_SECONDS,
        owner: Owner = NO_OWNER,
    ) -> None:
        self.folder = folder
        self.big = big
        self.poll = poll
        self.owner = owner

    @contextlib.asynccontextmanager
    async def turn(self, path: Path, size: int) -> AsyncIterator[bool]:
        """Hold `path`'s device for a release of `size` bytes; yields whether a turn was taken."""
        if size < self.big:
            yield False
            return
        fd = await asyncio.to_thread(self._open, path)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(self.poll)
            yield True
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def lock_path(self, path: Path) -> Path:
        return self.folder / f"device-{path.stat().st_dev:x}.lock"

    def _open(self, path: Path) -> int:
        try:
            lock = self.lock_path(path)
        except FileNotFoundError:
            raise TransientError(
                f"{path} vanished before it was hashed",
                hint="wait until nothing changes the release folder; the job retries by itself",
            ) from None
        try:
            make_dirs(self.folder, self.owner)
            return os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except PermissionError:
            raise FolderPermissionError(
                f"cannot create {lock}: permission denied (large releases take turns per "
                "disk through a lock file in the data dir)",
                hint=f"give the user mamfast runs as (uid {os.geteuid()}) write access to "
                f"{self.folder.parent}, or set MAMFAST_DATA_DIR to a folder it may write",
            ) from None
        except OSError as exc:
            raise TransientError(
                f"cannot create {lock}: {exc.strerror or exc}",
                hint="check the data dir (free space, a file where a folder should be); "
                "the job retries by itself",
            ) from None


def disk_turns_for(settings: Settings) -> DiskTurns:
    """The turns shared by every worker and command on this data dir."""
    return DiskTurns(settings.data_dir / "disk-turns", owner=file_owner(settings))
