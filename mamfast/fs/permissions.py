"""Folder permissions: who mamfast writes as, and what to say when a folder refuses it.

In Docker the workers run as PUID:PGID (the entry point drops root before it
starts them), while `docker compose exec worker mamfast ...` runs as root. A
folder the workers cannot write into is a setting to fix, never something a
retry can cure: the error names the folder, its owner and mode, who asked,
and the two ways out (PUID/PGID matching the owner, or access for that user).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mamfast.config import Settings
from mamfast.errors import FolderPermissionError


@dataclass(frozen=True)
class Identity:
    """A uid:gid that files are written as, and whether it is PUID/PGID standing in for us."""

    uid: int
    gid: int
    from_puid: bool = False

    def __str__(self) -> str:
        label = f"uid {self.uid}, gid {self.gid}"
        return f"{label} (PUID/PGID, the user the workers run as)" if self.from_puid else label


def worker_identity(settings: Settings) -> Identity:
    """Who the workers write as, seen from this process.

    As root with PUID or PGID set, that is PUID:PGID: the container's entry point drops
    root to them before it starts a worker, but `docker compose exec` does not.
    """
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0 and (settings.puid is not None or settings.pgid is not None):
        return Identity(
            settings.puid if settings.puid is not None else uid,
            settings.pgid if settings.pgid is not None else gid,
            from_puid=True,
        )
    return Identity(uid, gid)


async def call_as(
    identity: Identity, umask: int | None, work: Callable[[], str], *, timeout: float = 50
) -> str:
    """Run `work` in a forked child that has only `identity`'s rights; return its result.

    Forked, not exec'd: the child needs nothing it has not imported already, so it also
    works where the interpreter itself is not readable by that user. Needs root.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the identity, work, report, never return
        os.close(read_end)
        _child(identity, umask, work, write_end)
    os.close(write_end)
    try:
        async with asyncio.timeout(timeout):
            data = await asyncio.to_thread(_read_all, read_end)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        raise
    finally:
        _, status = await asyncio.to_thread(os.waitpid, pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError(f"the check as {identity} failed: {data.decode(errors='replace')[-300:]}")
    return data.decode()


def _child(identity: Identity, umask: int | None, work: Callable[[], str], out: int) -> None:
    code = 1
    try:
        os.setgroups([])
        os.setgid(identity.gid)
        os.setuid(identity.uid)
        if umask is not None:
            os.umask(umask)
        result = work().encode()
        code = 0
    except BaseException:
        result = traceback.format_exc().encode()
    try:
        view = memoryview(result)
        while view:
            view = view[os.write(out, view) :]
    finally:
        os._exit(code)


def _read_all(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as source:
        return source.read()


def describe(path: Path) -> str:
    """`owner 1000:1000, mode drwxr-xr-x` (or why it cannot be told)."""
    try:
        info = path.lstat()
    except OSError as exc:
        return f"cannot stat: {exc.strerror or exc}"
    return f"owner {info.st_uid}:{info.st_gid}, mode {stat.filemode(info.st_mode)}"


def refusing_folder(path: Path) -> Path:
    """The folder that stops this process from reaching or writing `path`.

    The first folder on the way down that it cannot enter, else the nearest existing
    one (for a file that exists: the file itself when it cannot be written).
    """
    path = Path(path).absolute()
    if path.exists() and not path.is_dir() and not os.access(path, os.W_OK):
        return path
    nearest = path
    while not nearest.is_dir() and nearest != nearest.parent:
        nearest = nearest.parent
    for folder in [*reversed(nearest.parents), nearest]:
        if not os.access(folder, os.X_OK):
            return folder
    return nearest


def configured_folders(settings: Settings) -> dict[str, Path]:
    """The folders mamfast reads or writes, by the setting that names them."""
    folders = {
        "MAMFAST_LIBRARY_DIR": settings.library_dir,
        "MAMFAST_SEED_DIR": settings.seed_folder,
        "MAMFAST_TORRENT_DIR": settings.torrent_folder,
        "MAMFAST_DATA_DIR": settings.data_dir,
    }
    return {name: folder for name, folder in folders.items() if folder is not None}


def folder_setting(folders: Mapping[str, Path], path: Path) -> str | None:
    """Which configured folder `path` lies in (or on the way to), by its setting name."""
    path = Path(path).absolute()
    for name, folder in folders.items():
        folder = Path(folder).absolute()
        if path.is_relative_to(folder) or folder.is_relative_to(path):
            return name
    return None


def permission_error(folders: Mapping[str, Path], exc: PermissionError) -> FolderPermissionError:
    """A permission refusal from the filesystem, told as the setting to fix."""
    targets = [Path(os.fsdecode(f)) for f in (exc.filename2, exc.filename) if f is not None]
    if not targets:
        return FolderPermissionError(
            f"permission denied ({exc.strerror or exc})", hint=fix_hint(None)
        )
    # Two paths (a link or a rename): blame the side this process cannot write to.
    target = next(
        (t for t in targets if not os.access(refusing_folder(t), os.W_OK | os.X_OK)), targets[0]
    )
    return refused(folders, target, exc.strerror or "permission denied")


def refused(folders: Mapping[str, Path], target: Path, reason: str) -> FolderPermissionError:
    folder = refusing_folder(target)
    setting = folder_setting(folders, target)
    me = Identity(os.geteuid(), os.getegid())
    where = f" ({setting})" if setting else ""
    return FolderPermissionError(
        f"{reason.lower()}: {target}{where}. {folder} has {describe(folder)}; mamfast runs as {me}",
        hint=fix_hint(folder),
    )


def fix_hint(folder: Path | None) -> str:
    me = os.geteuid()
    try:
        owner = folder.stat() if folder is not None else None
    except OSError:
        owner = None
    if owner is not None and owner.st_uid == me:
        return f"the folder is ours but its mode forbids writing: chmod u+rwx {folder}"
    ids = (
        f"PUID={owner.st_uid} and PGID={owner.st_gid}"
        if owner is not None
        else "PUID and PGID to the owner of your data folder"
    )
    return (
        f"make mamfast's user and the folder's owner match: with Docker set {ids} in .env "
        "(`stat -c '%u:%g' /path/to/data` on the host prints the owner) and run "
        f"`docker compose up -d`; or give uid {me} access to {folder or 'the folder'} "
        "(chown it, or share a group and use UMASK=002). Then run "
        "`mamfast retry --all-failed`"
    )
