"""Which files go into a torrent, and in what order.

The infohash depends on the exact file list, so selection and order are fixed
rules with no dependence on the machine, the filesystem's readdir order or
the locale:

* order: byte-wise sort of the `/`-joined UTF-8 relative path, as mkbrr and
  mktorrent do (`CD1.jpg` sorts before `CD1/a.mp3` because '.' < '/');
* skipped: hidden entries (any component starting with '.'), partial
  downloads, and mkbrr's ignore list (`.torrent`, `.DS_Store`, `Thumbs.db`,
  `desktop.ini`, `Zone.Identifier`, `@eaDir` folders);
* kept: zero-byte files (they take no bytes of the piece stream but are
  listed), symlinks to files (the target is hashed, the link's path listed).

Names are never Unicode-normalised: qBittorrent must find the exact bytes on
disk. Anything that would make the list ambiguous (a name that is not UTF-8,
a special file, a broken link, a linked folder) is an error, not a silent skip.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mamfast.errors import TorrentError, TransientError

# mkbrr's hard-coded ignore list (torrent/ignore.go), matched case-insensitively on the suffix.
IGNORED_SUFFIXES = (".torrent", ".ds_store", "thumbs.db", "desktop.ini", "zone.identifier")
IGNORED_DIRS = frozenset({"@eadir"})
# Files another program is still writing: never part of a release.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".!qb", ".!ut", ".crdownload")


@dataclass(frozen=True)
class ContentFile:
    """One file of the torrent: where it is on disk and how the torrent names it."""

    path: Path  # on disk (a symlink is kept as the link; reads follow it)
    parts: tuple[str, ...]  # path components under the torrent root; (name,) for one file
    length: int
    mtime_ns: int

    @property
    def relpath(self) -> str:
        return "/".join(self.parts)


@dataclass(frozen=True)
class Content:
    """The files of one torrent, sorted, with the layout mkbrr would choose."""

    root: Path
    name: str
    files: tuple[ContentFile, ...]
    multi_file: bool  # a directory is always multi-file, even with one file in it

    @property
    def total_size(self) -> int:
        return sum(f.length for f in self.files)


def skip_reason(name: str, *, is_dir: bool) -> str | None:
    """Why an entry is left out of the torrent, or None when it is included."""
    lowered = name.lower()
    if name.startswith("."):
        return "hidden"
    if is_dir:
        return "ignored folder" if lowered in IGNORED_DIRS else None
    if lowered.endswith(IGNORED_SUFFIXES):
        return "ignored file"
    if lowered.endswith(PARTIAL_SUFFIXES):
        return "partial download"
    return None


def sort_key(parts: tuple[str, ...]) -> bytes:
    # UTF-8 preserves code point order, but say "bytes" explicitly: this is the rule.
    return "/".join(parts).encode("utf-8")


def scan_content(path: Path) -> Content:
    """List the files a torrent of `path` (a folder or one file) contains, in torrent order.

    Blocking (it walks and stats the tree): call it from a worker thread.
    """
    try:
        top = path.stat()
    except FileNotFoundError:
        raise TorrentError(f"{path} does not exist", hint="check the path") from None
    except OSError as exc:
        raise TorrentError(f"cannot read {path}: {exc.strerror}") from None
    _check_name(path.name, path)
    if stat.S_ISDIR(top.st_mode):
        files = sorted(_walk(path, ()), key=lambda f: sort_key(f.parts))
        multi = True
    elif stat.S_ISREG(top.st_mode):
        files = [_file(path, (path.name,))]
        multi = False
    else:
        raise TorrentError(f"{path} is neither a folder nor a regular file")
    content = Content(root=path, name=path.name, files=tuple(files), multi_file=multi)
    if content.total_size == 0:
        raise TorrentError(
            f"{path} holds no data ({len(files)} file(s), 0 bytes in total); "
            "a torrent needs at least one non-empty file",
            hint="check that the release was staged completely",
        )
    return content


def _walk(folder: Path, prefix: tuple[str, ...]) -> Iterator[ContentFile]:
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise TorrentError(
            f"cannot list {folder}: {exc.strerror}",
            hint="fix the folder's permissions for the user mamfast runs as",
        ) from None
    for entry in entries:
        is_dir = entry.is_dir(follow_symlinks=True)
        if skip_reason(entry.name, is_dir=is_dir):
            continue
        where = Path(entry.path)
        _check_name(entry.name, where)
        parts = (*prefix, entry.name)
        if is_dir:
            if entry.is_symlink():
                raise TorrentError(
                    f"{where} is a link to a folder; linked folders are not followed",
                    hint="stage real folders (or hardlinked files) only",
                )
            yield from _walk(where, parts)
        else:
            yield _file(where, parts)


def _file(path: Path, parts: tuple[str, ...]) -> ContentFile:
    try:
        info = path.stat()  # follows a symlink: its target is what gets hashed
    except FileNotFoundError:
        if path.is_symlink():
            raise TorrentError(f"{path} is a broken link", hint="remove or fix the link") from None
        raise TransientError(f"{path} vanished while the folder was listed") from None
    except OSError as exc:
        raise TorrentError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise TorrentError(f"{path} is not a regular file", hint="remove it from the folder")
    _check_readable(path)
    return ContentFile(path=path, parts=parts, length=info.st_size, mtime_ns=info.st_mtime_ns)


def _check_readable(path: Path) -> None:
    """Open the file once now, so a permission problem is reported before any hashing."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError:
        raise TorrentError(
            f"cannot read {path}: permission denied",
            hint=f"give the user mamfast runs as (uid {os.getuid()}) read access to it",
        ) from None
    except OSError as exc:
        raise TorrentError(f"cannot read {path}: {exc.strerror}") from None
    os.close(fd)


def _check_name(name: str, where: Path) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as surrogate escapes
        raise TorrentError(
            f"{where!s:.200} has a name that is not valid UTF-8; "
            "qBittorrent and MAM cannot represent it",
            hint="rename it",
        ) from None


def changed_files(content: Content) -> list[str]:
    """Files whose size or modification time differ from when they were listed."""
    changed = []
    for f in content.files:
        try:
            now = f.path.stat()
        except OSError:
            changed.append(f.relpath)
            continue
        if now.st_size != f.length or now.st_mtime_ns != f.mtime_ns:
            changed.append(f.relpath)
    return changed
