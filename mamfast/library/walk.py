"""Finding the book folders of a library: depth, symlinks, folders still being written.

A book folder is one that directly holds audio, found at most
MAMFAST_SCAN_DEPTH levels below the library (`Author/Book`,
`Author/Series/Book`, or a book folder at the top); its subfolders are part of
the book, not releases. The library is only read, and symlinks that lead out
of it are never followed. A folder changed less than MAMFAST_SETTLE_SECONDS
ago is `Settling` (Libation may still be writing it), and a folder that cannot
be a book says why as a `Reject`; nothing is skipped silently.

The walk works on str paths: pathlib objects for 10,000s of folders cost more
than the system calls themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mamfast.asin import in_name
from mamfast.config import Settings
from mamfast.library.metadata import is_metadata_file
from mamfast.library.report import Reject, Settling
from mamfast.library.selection import has_audio, is_encrypted, missing_parts, select_files

JUNK_FILES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})


@dataclass
class Listing:
    """A folder's entries, read once."""

    entries: list[os.DirEntry[str]]

    @property
    def files(self) -> list[os.DirEntry[str]]:
        return [e for e in self.entries if _is_file(e)]

    def broken_links(self) -> dict[str, str]:
        """Symlinks that lead nowhere, and where they point."""
        return {
            e.name: f"is a broken symlink (to {_link_target(e)})"
            for e in self.entries
            if _is_broken_link(e)
        }


def list_folder(folder: str) -> Listing:
    with os.scandir(folder) as listing:
        return Listing(list(listing))  # order does not matter: the report is sorted


# What the scan cache compares to decide a file is unchanged: (size, mtime_ns, inode,
# ctime_ns). The inode tells a replaced file (a part copied over with its old mtime kept,
# `cp -p` or rsync); the ctime, which no tool can set back, tells an in-place edit that
# kept size and mtime, and is kept for metadata files only: staging hardlinks the audio
# and the cover, which changes their ctime, and must not make the next scan re-read them.
FileStamp = tuple[int, int, int, int]


@dataclass
class FoundBook:
    """A settled book folder, its files' stamps and the folder's own mtime_ns."""

    folder: str
    boundary: Path  # the library (or the scanned root): the Author/Series layout is read from it
    files: dict[str, FileStamp]
    folder_mtime: int


@dataclass
class LibraryWalk:
    """One scan's walk over one or more roots; what is not a book lands in rejects/settling."""

    settings: Settings
    now: float
    rejects: list[Reject] = field(default_factory=list)
    settling: list[Settling] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # book folders (the scan cache keeps these)
    visited: set[str] = field(default_factory=set)
    folders: int = 0

    def books(self, root: Path) -> Iterator[FoundBook]:
        if not root.is_dir():
            self._reject(root, "does not exist or is not a folder")
            return
        real = root.resolve()
        library_dir = self.settings.library_dir
        library = library_dir.resolve() if library_dir else None
        named_inside = library_dir and root.absolute().is_relative_to(library_dir.absolute())
        if named_inside and library and not real.is_relative_to(library):
            self._reject(root, f"is a symlink to {real}, outside the library: not followed")
            return
        boundary = library if library and real.is_relative_to(library) else real
        yield from self._visit(str(real), boundary, depth=0)

    def _visit(self, folder: str, boundary: Path, depth: int) -> Iterator[FoundBook]:
        if folder in self.visited:
            return
        self.visited.add(folder)
        self.folders += 1
        try:
            listing = list_folder(folder)
        except OSError as exc:
            self._reject(Path(folder), f"cannot be read: {exc.strerror or exc}")
            return
        files = listing.files
        names = [e.name for e in files]
        if has_audio(names):
            self.seen.add(folder)
            missing = missing_parts(names, listing.broken_links(), self.settings.allowed_extensions)
            if missing:
                self._reject(Path(folder), f"{missing}; restore the file, then scan again")
            elif found := self._settled(folder, boundary, files):
                yield found
            return  # a book folder's subfolders are part of the book, not releases
        subdirs = [
            e for e in listing.entries if e.is_dir() and not e.name.startswith((".", "@", "#"))
        ]
        if _looks_like_a_book(os.path.basename(folder), names) or (  # noqa: PTH119
            not subdirs and any(n.lower() not in JUNK_FILES and n[0] != "." for n in names)
        ):
            selection = select_files(names, self.settings.allowed_extensions)
            self._reject(Path(folder), selection.problem or "no audio files")
        if depth >= self.settings.scan_depth:
            return
        for entry in subdirs:
            target = entry.path
            if entry.is_symlink():
                resolved = Path(target).resolve()
                if not resolved.is_relative_to(boundary):
                    self._reject(
                        Path(target),
                        f"is a symlink to {resolved}, outside the library: not followed",
                    )
                    continue
                target = str(resolved)
            yield from self._visit(target, boundary, depth + 1)

    def _settled(
        self, folder: str, boundary: Path, files: list[os.DirEntry[str]]
    ) -> FoundBook | None:
        """The book folder with its files' stats, or None (rejected or settling) and why."""
        settle = self.settings.settle_seconds
        try:
            stats = {e.name: _stat_inside(e, boundary) for e in files}
            folder_mtime = os.stat(folder).st_mtime_ns  # noqa: PTH116 (str paths: see above)
        except _OutsideLibraryError as exc:
            self._reject(Path(folder), str(exc))
            return None
        except FileNotFoundError:  # a file vanished mid-scan: Libation is moving things
            self.settling.append(
                Settling(path=Path(folder), changed_seconds_ago=0.0, ready_in_seconds=settle)
            )
            return None
        except OSError as exc:
            self._reject(Path(folder), f"cannot be read: {exc.strerror or exc}")
            return None
        newest = max([folder_mtime, *(s[1] for s in stats.values())]) / 1e9
        age = max(self.now - newest, 0.0)
        if age < settle:
            self.settling.append(
                Settling(
                    path=Path(folder),
                    changed_seconds_ago=round(age, 1),
                    ready_in_seconds=round(settle - age, 1),
                )
            )
            return None
        return FoundBook(folder, boundary, stats, folder_mtime)

    def _reject(self, path: Path, reason: str) -> None:
        self.rejects.append(Reject(path=path, reason=reason))


class _OutsideLibraryError(Exception):
    pass


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _stat_inside(entry: os.DirEntry[str], boundary: Path) -> FileStamp:
    """A file's stamp (see FileStamp), refusing symlinks that lead out of the library."""
    if entry.is_symlink():
        resolved = Path(entry.path).resolve()
        if not resolved.is_relative_to(boundary):
            raise _OutsideLibraryError(
                f"{entry.name} is a symlink to {resolved}, outside the library: not followed"
            )
    stat = entry.stat()
    ctime = stat.st_ctime_ns if is_metadata_file(entry.name) else 0
    return stat.st_size, stat.st_mtime_ns, stat.st_ino, ctime


def _is_broken_link(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_symlink() and not os.path.exists(entry.path)  # noqa: PTH110
    except OSError:
        return False


def _link_target(entry: os.DirEntry[str]) -> str:
    try:
        return str(Path(entry.path).readlink())
    except OSError:
        return "?"


def _looks_like_a_book(name: str, files: Sequence[str]) -> bool:
    return (
        in_name(name) is not None
        or any(is_metadata_file(f) for f in files)
        or any(is_encrypted(f) for f in files)
    )
