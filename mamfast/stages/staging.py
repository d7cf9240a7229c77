"""The `stage` stage: hardlink a release's files into MAMFAST_SEED_DIR/<MAM folder>/.

The folder is built as `.mamfast-partial-<ASIN>` next to its final place and
renamed when complete, so a crash never leaves a half-built folder under the
real name. A re-run that finds the folder already there checks it: the same
inodes as the sources (or, for copies, the same size and content) is a no-op;
a different file under one of our names, or a file we would not put there,
is an error for a person to look at; it is never overwritten.

Hardlinks need the library and the seed folder on one filesystem. Across
filesystems (EXDEV) staging refuses with advice, unless
MAMFAST_STAGE_COPY_FALLBACK allows copying (recorded as a warning).

Only what we create gets PUID/PGID/UMASK (`fs.owner`): the folder and copies. A
hardlink shares its inode with the library file, and the library is read-only input.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamfast.config import Settings
from mamfast.errors import (
    CrossDeviceError,
    InputError,
    NotOursError,
    StagingError,
    TransientError,
    disk_error,
)
from mamfast.fs.containment import in_seed
from mamfast.fs.owner import file_owner, make_dirs
from mamfast.library.names import parse_folder_name
from mamfast.library.selection import FileSelection, missing_parts, select_files
from mamfast.models import Release, StageOutput, StageResult
from mamfast.release.naming.paths import MamPath, mam_names
from mamfast.release.naming.rules import NamingRules
from mamfast.stages import ledger as ownership
from mamfast.stages.services import Services

PARTIAL_PREFIX = ".mamfast-partial-"
CHUNK = 1024 * 1024
SAME_FS_HINT = (
    "mount one parent folder that holds both into every container (the TRaSH guides "
    "layout: /data with /data/media/audiobooks and /data/torrents/mam) and point "
    "MAMFAST_LIBRARY_DIR and MAMFAST_SEED_DIR inside it; or set "
    "MAMFAST_STAGE_COPY_FALLBACK=true to copy instead (uses the disk space twice)"
)


# --------------------------------------------------------------------------- engine entry points


async def run(services: Services, release: Release) -> StageResult:
    settings = services.settings
    staged = await asyncio.to_thread(stage_release, settings, release, services.rules.naming)
    return StageResult(
        output=StageOutput(staging_dir=str(staged.folder), staged_files=staged.names),
        display={"naming": staged.naming_details(), "staging": staged.counts()},
        warnings=staged.warnings,
    )


def artifacts_missing(release: Release) -> str | None:
    """Why the stage checkpoint is void (the staged folder or a file in it is gone), or None.

    Blocking: the engine calls it in a thread."""
    if not release.staging_dir:
        return "no staged folder is recorded"
    folder = Path(release.staging_dir)
    if not folder.is_dir():
        return f"staged folder {folder} is gone"
    for name in release.staged_files:
        if not (folder / name).is_file():
            return f"staged file {name!r} is missing from {folder}"
    return None


def staged_folder(settings: Settings, release: Release) -> Path:
    """The release's staged folder, for the stages after this one (the engine rewinds a
    release whose folder vanished; this guards the moment in between).

    It must lie inside MAMFAST_SEED_DIR: later stages hash it, write beside its name in
    the torrent folder and have qBittorrent seed it, so a record pointing elsewhere
    (hand-edited, imported) is refused rather than followed.
    """
    folder = Path(release.staging_dir) if release.staging_dir else None
    if folder is not None:
        try:
            folder = in_seed(settings, folder)
        except NotOursError as exc:
            raise NotOursError(
                f"{release.asin}: {exc.message}",
                hint=f"stage it again inside MAMFAST_SEED_DIR: `mamfast reset {release.asin} "
                "--stage stage` (or point MAMFAST_SEED_DIR at the folder it was staged in)",
            ) from None
    if folder is None or not folder.is_dir() or folder.is_symlink():
        what = f"the staged folder {folder} is gone" if folder else "no staged folder is recorded"
        raise StagingError(
            f"{release.asin}: {what}",
            hint=f"run `mamfast reset {release.asin} --stage stage` to stage it again",
        )
    return folder


def check_same_filesystem(settings: Settings) -> str | None:
    """None when the library and seed folder share a filesystem, else what is wrong and the fix.

    For a worker to call once at start (staging also handles EXDEV on every link). The
    problem is returned even when MAMFAST_STAGE_COPY_FALLBACK is on: the caller decides
    whether to refuse to start or to log a warning that staging will copy.
    """
    if settings.library_dir is None:
        return None
    library, seed = _nearest_existing(settings.library_dir), _nearest_existing(settings.seed_folder)
    if library.stat().st_dev == seed.stat().st_dev:
        return None
    error = cross_device_error(settings)
    return f"{error.message}. What to do: {error.hint}"


def cross_device_error(settings: Settings) -> CrossDeviceError:
    library = _nearest_existing(settings.library_dir or Path("/"))
    seed = _nearest_existing(settings.seed_folder)
    return CrossDeviceError(
        f"the library {settings.library_dir} (filesystem mounted at {_mount_point(library)}) "
        f"and MAMFAST_SEED_DIR {settings.seed_folder} (mounted at {_mount_point(seed)}) are on "
        "different filesystems, so files cannot be hardlinked",
        hint=SAME_FS_HINT,
    )


# --------------------------------------------------------------------------- the work


@dataclass
class Staged:
    """What one staging run produced (or found already in place)."""

    folder: Path
    naming: MamPath
    linked: int = 0
    copied: int = 0
    reused: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return sorted(self.naming.files.values())

    def naming_details(self) -> dict[str, Any]:
        return {
            "folder": self.naming.folder,
            "truncated": self.naming.truncated,
            "dropped": self.naming.dropped,
            "longest_path": self.naming.longest,
            "limit": self.naming.limit,
        }

    def counts(self) -> dict[str, int]:
        return {"linked": self.linked, "copied": self.copied, "reused": self.reused}


def plan_release(
    settings: Settings, release: Release, rules: NamingRules
) -> tuple[Path, FileSelection, MamPath]:
    """The source folder, the files chosen from it, and their MAM names."""
    if not release.source_dir:
        raise InputError(
            f"{release.asin} has no source folder recorded",
            hint="enqueue it again from the library so discovery records where it lives",
        )
    source = _source_inside_library(settings, release)
    try:
        names, bad = _listing(source, settings)
    except FileNotFoundError:
        raise InputError(
            f"the source folder {source} is gone",
            hint="if Libation moved the book, scan the library again; otherwise remove the "
            f"release (`mamfast reset {release.asin}`)",
        ) from None
    except OSError as exc:
        raise TransientError(f"cannot list {source}: {exc.strerror or exc}") from None
    missing = missing_parts(names, bad, settings.allowed_extensions)
    if missing:
        raise InputError(
            f"{source}: {missing}",
            hint="restore the file in the library (or have Libation download the book "
            f"again), then run `mamfast retry {release.asin}`",
        )
    selection = select_files(names, settings.allowed_extensions)
    if selection.problem:
        raise InputError(f"{source}: {selection.problem}", hint="fix the book folder and retry")
    book = release.book
    if not book.title:  # e.g. a record imported from the old state file
        title = release.title or parse_folder_name(source.name).title or source.name
        book = book.model_copy(update={"title": title})
    naming = mam_names(
        release.asin,
        book,
        selection.files,
        rules,
        tag=settings.ripper_tag,
        limit=settings.path_limit,
    )
    return source, selection, naming


def stage_release(settings: Settings, release: Release, rules: NamingRules) -> Staged:
    """Build (or verify) the staged folder. Blocking: run it in a thread."""
    source, selection, naming = plan_release(settings, release, rules)
    seed = settings.seed_folder
    make_dirs(seed, file_owner(settings))
    target = in_seed(settings, seed / naming.folder)
    partial = in_seed(settings, seed / f"{PARTIAL_PREFIX}{release.asin}")
    staged = Staged(folder=target, naming=naming, warnings=list(selection.warnings))
    if os.path.lexists(target):
        _complete_existing(source, target, staged, settings)
    elif release.staging_dir is None and (earlier := _earlier_work(settings, release, staged)):
        staged = earlier  # the record was lost: the folder staged before is the release
    else:
        _build_fresh(source, partial, target, staged, settings, release.asin)
    if staged.copied:
        staged.warnings.append(
            f"staging: copied {staged.copied} file(s) instead of hardlinking: the library and "
            "MAMFAST_SEED_DIR are on different filesystems, so the book takes disk space twice"
        )
    return staged


def _earlier_work(settings: Settings, release: Release, today: Staged) -> Staged | None:
    """The folder staged for this ASIN before, under another name, if the record forgot it.

    Redis lost the record, and today's name differs (Libation rewrote the metadata): the
    earlier folder, found by the ledger or its `{ASIN.X}` token, is reused when it holds
    exactly the book's files, so the torrent made from it is the same one. A folder that
    holds other files, or a torrent left without its folder, stops the release: staging
    anew would make a second torrent for one ASIN.
    """
    source = Path(release.source_dir or "")
    folders = ownership.earlier_folders(settings, release.asin, today.folder.name)
    for folder in folders:
        files = _same_files(source, folder, today.naming.files)
        if files is not None:
            naming = today.naming.model_copy(update={"folder": folder.name, "files": files})
            note = (
                f"staging: reused {folder.name}, staged earlier for {release.asin} (today's "
                f"name would be {today.folder.name})"
            )
            return Staged(folder, naming, reused=len(files), warnings=[*today.warnings, note])
    if folders:
        raise StagingError(
            f"{release.asin} was staged before as {folders[0]}, which holds other files than "
            f"the book has now; staging it again as {today.folder.name} would make a second "
            "torrent for one release",
            hint="if the new files should replace it, delete that folder (and its torrent, "
            f"in qBittorrent and MAMFAST_TORRENT_DIR), then run `mamfast retry {release.asin}`",
        )
    torrents = [
        t for t in ownership.earlier_torrents(settings, release.asin) if t.stem != today.folder.name
    ]
    if torrents:
        raise StagingError(
            f"{release.asin} already has a torrent, {torrents[0]}, whose staged folder is no "
            f"longer in MAMFAST_SEED_DIR; staging it as {today.folder.name} would make a "
            "second torrent for one release",
            hint="put that torrent's folder back in MAMFAST_SEED_DIR if it is still seeded; to "
            f"make a new torrent instead, delete {torrents[0].parent} (and the torrent in "
            f"qBittorrent), then run `mamfast retry {release.asin}`",
        )
    return None


def _same_files(source: Path, folder: Path, expected: dict[str, str]) -> dict[str, str] | None:
    """source name -> name in `folder` when `folder` holds exactly the book's files, else None."""
    entries = list(os.scandir(folder))
    if len(entries) != len(expected) or not all(e.is_file(follow_symlinks=False) for e in entries):
        return None
    by_inode = {(e.stat().st_dev, e.stat().st_ino): e.name for e in entries}
    files: dict[str, str] = {}
    for src_name in expected:
        st = (source / src_name).stat()
        match = by_inode.pop((st.st_dev, st.st_ino), None)
        if match is None:  # copied, not linked: compare contents with what is left
            left = sorted(set(by_inode.values()))
            match = next((n for n in left if _same_file(source / src_name, folder / n)), None)
            if match is None:
                return None
            by_inode = {k: v for k, v in by_inode.items() if v != match}
        files[src_name] = match
    return files


def _build_fresh(
    source: Path, partial: Path, target: Path, staged: Staged, settings: Settings, asin: str
) -> None:
    ownership.add_made(settings, asin, target.name)  # the proof of ownership, before the folder
    if os.path.lexists(partial):
        _remove_tree(partial)  # our own leftover from an interrupted run (we hold the lock)
    try:
        make_dirs(partial, file_owner(settings))
        for src_name, dst_name in staged.naming.files.items():
            _place(source / src_name, partial / dst_name, staged, settings)
    except BaseException as exc:
        # Nothing half-built stays behind when staging fails (a kill leaves it for the
        # next run, which removes it above).
        if os.path.lexists(partial):
            _remove_tree(partial)
        if isinstance(exc, OSError) and (translated := disk_error(exc, partial.parent)) is not None:
            raise translated from None
        raise
    # No fsync: if a crash loses the rename or a link after the checkpoint, the engine's
    # artifact check (artifacts_missing) finds the folder or file gone and stages again.
    try:
        partial.rename(target)
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        # Someone created the folder meanwhile: check it like any existing one.
        _remove_tree(partial)
        staged.linked = staged.copied = 0
        _complete_existing(source, target, staged, settings)


def _complete_existing(source: Path, target: Path, staged: Staged, settings: Settings) -> None:
    if target.is_symlink() or not target.is_dir():
        raise StagingError(
            f"{target} exists but is not a folder",
            hint="move it out of MAMFAST_SEED_DIR, then retry",
        )
    expected = staged.naming.files
    present = {e.name for e in os.scandir(target)}
    foreign = sorted(present - set(expected.values()))
    if foreign:
        raise StagingError(
            f"the staged folder {target} holds files mamfast would not put there: "
            f"{', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}",
            hint="remove those files (or the whole folder to have it rebuilt), then retry",
        )
    for src_name, dst_name in expected.items():
        src, dst = source / src_name, target / dst_name
        if dst_name not in present:
            _place(src, dst, staged, settings)  # a file was added to the book since
            continue
        if not _same_file(src, dst):
            raise StagingError(
                f"{dst} is a different file than {src} (not the same hardlink, and not an "
                "identical copy); it is not overwritten",
                hint="if the library copy is the right one, delete the staged folder and retry",
            )
        staged.reused += 1


def _place(src: Path, dst: Path, staged: Staged, settings: Settings) -> None:
    """Hardlink src as dst; on EXDEV copy when allowed, else explain the mount problem."""
    try:
        os.link(src, dst)
        staged.linked += 1
        return
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            if not settings.stage_copy_fallback:
                raise cross_device_error(settings) from None
        elif exc.errno == errno.EPERM:
            raise StagingError(
                f"the system does not allow hardlinking {src} ({exc.strerror})",
                hint="run mamfast as the owner of the library files (PUID/PGID), or give it "
                "write access to them (Linux fs.protected_hardlinks)",
            ) from None
        elif exc.errno == errno.ENOENT and not src.exists():
            raise TransientError(
                f"{src} vanished while staging",
                hint="Libation may be rewriting the book; it is retried",
            ) from None
        else:
            raise
    shutil.copy2(src, dst)
    file_owner(settings).apply(dst)  # copy2 copied the library file's mode
    staged.copied += 1


def _same_file(src: Path, dst: Path) -> bool:
    a, b = src.stat(), dst.stat()
    if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
        return True
    if a.st_size != b.st_size:
        return False
    with src.open("rb") as left, dst.open("rb") as right:
        while True:
            chunk = left.read(CHUNK)
            if chunk != right.read(CHUNK):
                return False
            if not chunk:
                return True


# --------------------------------------------------------------------------- filesystem helpers


def _source_inside_library(settings: Settings, release: Release) -> Path:
    """The recorded book folder, unless a symlink now leads from it out of the library.

    Discovery records real paths, so a folder that resolves elsewhere was swapped for a
    symlink (or moved under one) since the scan: its files are not the book's.
    """
    assert release.source_dir is not None
    source = Path(release.source_dir)
    real = source.resolve()
    library = settings.library_dir.resolve() if settings.library_dir else None
    if real != source.absolute() and not (library and real.is_relative_to(library)):
        raise InputError(
            f"the book folder {source} leads through a symlink to {real}, outside the "
            "library: mamfast never follows a symlink out of the library",
            hint="put the book back in the library as a real folder, then scan again",
        )
    return source


def _listing(source: Path, settings: Settings) -> tuple[list[str], dict[str, str]]:
    """Usable file names, and the links that cannot be used with what is wrong with each."""
    library = (settings.library_dir or source).resolve()
    names: list[str] = []
    bad: dict[str, str] = {}
    for entry in os.scandir(source):
        try:
            if entry.is_symlink():
                target = Path(entry.path).resolve()
                if not target.exists():
                    bad[entry.name] = f"is a broken symlink (to {Path(entry.path).readlink()})"
                    continue
                if not target.is_relative_to(library):
                    bad[entry.name] = f"is a symlink to {target}, outside the library"
                    continue
            if entry.is_file():
                names.append(entry.name)
        except OSError:
            continue
    return names, bad


def _remove_tree(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)  # removes links to the library's files, never the files themselves


def _nearest_existing(path: Path) -> Path:
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _mount_point(path: Path) -> Path:
    current = path.resolve()
    device = current.stat().st_dev
    while current != current.parent and current.parent.stat().st_dev == device:
        current = current.parent
    return current
