"""Who owns what mamfast creates: PUID/PGID, UMASK, and what a refused owner change means.

One policy for every file and folder mamfast makes (staged folders and copied files,
the fast-fill JSON and description, the .torrent, the staging ledger):

* its mode is its base mode (folders 0o777, files 0o666, a .torrent 0o640) less UMASK,
  or less the process umask when UMASK is not set;
* with PUID or PGID set, it gets that owner (an unset one is kept) as it is created:
  a file before it is renamed to its final name, so nobody sees it with another owner;
* UMASK is also made the process umask at every entry point (`apply_umask`: worker start,
  every command), so what other code creates (the discovery cache, say) follows it too;
* a refused owner change stops the work with a `FolderPermissionError`; it is never
  skipped. A .torrent the group cannot read or a folder qBittorrent cannot write would
  fail later, far from the cause. Only root gives files to another user: the Docker
  image starts as root and runs mamfast as PUID:PGID, where the change is a no-op.

A hardlink is never given an owner or mode: it is the library file's own inode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mamfast.config import Settings
from mamfast.errors import FolderPermissionError

FILE_MODE = 0o666
FOLDER_MODE = 0o777


@dataclass(frozen=True)
class Owner:
    """The owner (-1 = keep) and umask (None = the process's) for what mamfast creates."""

    uid: int = -1
    gid: int = -1
    umask: int | None = None

    @property
    def changes_owner(self) -> bool:
        return self.uid != -1 or self.gid != -1

    def mode(self, base: int) -> int | None:
        """The mode to set on a new file or folder, or None to leave the one it was made with."""
        return None if self.umask is None else base & ~self.umask

    def apply(self, path: Path, *, base: int = FILE_MODE) -> None:
        """Give a file or folder we just created its owner, then its mode."""
        if self.changes_owner:
            try:
                os.chown(path, self.uid, self.gid, follow_symlinks=False)
            except PermissionError:
                raise self.refused(path) from None
        # After the owner: chown may clear mode bits.
        if (mode := self.mode(base)) is not None:
            path.chmod(mode)

    def apply_fd(self, fd: int, path: Path, *, base: int = FILE_MODE) -> None:
        """`apply` for a file still open (a temp file before its rename); `path` names it."""
        if self.changes_owner:
            try:
                os.fchown(fd, self.uid, self.gid)
            except PermissionError:
                raise self.refused(path) from None
        if (mode := self.mode(base)) is not None:
            os.fchmod(fd, mode)

    def refused(self, path: Path) -> FolderPermissionError:
        ids = (("uid", self.uid), ("gid", self.gid))
        wanted = ", ".join(f"{name} {value}" for name, value in ids if value != -1)
        return FolderPermissionError(
            f"cannot give {path} the owner set by PUID/PGID ({wanted}): mamfast runs as uid "
            f"{os.geteuid()}, gid {os.getegid()}, and only root may give files to another user",
            hint="run mamfast as root (the Docker image starts as root and drops to PUID:PGID "
            "itself), or set PUID/PGID to the ids mamfast runs as, or unset them; then run "
            "`mamfast retry --all-failed`",
        )


NO_OWNER = Owner()


def file_owner(settings: Settings) -> Owner:
    """The owner and umask PUID, PGID and UMASK ask for (NO_OWNER when none is set)."""
    return Owner(
        uid=settings.puid if settings.puid is not None else -1,
        gid=settings.pgid if settings.pgid is not None else -1,
        umask=int(settings.umask, 8) if settings.umask is not None else None,
    )


def apply_umask(settings: Settings) -> None:
    """Make UMASK this process's umask (outside Docker nothing else does)."""
    if settings.umask is not None:
        os.umask(int(settings.umask, 8))


def make_dirs(path: Path, owner: Owner = NO_OWNER) -> None:
    """mkdir -p, giving every folder it creates `owner` (folders already there are left)."""
    missing = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        if probe == probe.parent:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # made meanwhile by another writer: theirs to own
        owner.apply(folder, base=FOLDER_MODE)
