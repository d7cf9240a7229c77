"""Discovery: find the releases (book folders) in the Libation library.

A release is a folder that directly holds audio (`.m4b`, or `.mp3`/`.m4a` for
multi-file books), found at most MAMFAST_SCAN_DEPTH levels below the library
(`Author/Book`, `Author/Series/Book`, or a book folder at the top). Its ASIN
comes from Libation's `*.metadata.json`, else the folder name (`{ASIN.X}`,
`[ASIN.X]`, `[X]`), else the audio file names.

Nothing is skipped silently: a folder that cannot become a release is a
`Reject` with the reason in plain words, a folder Libation may still be
writing is `settling`, and two folders with the same ASIN are both reported
and neither is processed. The library is only read, and symlinks that lead
out of it are never followed. An unchanged folder is answered from a cache
under MAMFAST_DATA_DIR, so a rescan costs little more than listing folders.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, PlainSerializer

from mamfast.asin import valid_asin
from mamfast.config import Settings
from mamfast.display import printable
from mamfast.errors import ConfigError
from mamfast.models import BookInfo, Release, SeriesRef
from mamfast.release.naming import AUDIO_EXTENSIONS, natural_key, series_from_title

log = logging.getLogger(__name__)

CACHE_NAME = "discovery-cache.json"
CACHE_VERSION = 1
ENCRYPTED_AUDIO = (".aax", ".aaxc")
# Preferred format when a folder holds several (a book is one format on MAM).
FORMAT_PREFERENCE = (".m4b", ".m4a", ".mp3")
METADATA_SUFFIX = ".metadata.json"
ABS_METADATA = "metadata.json"
JUNK_FILES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})

_ASIN_TOKEN = re.compile(r"\{ASIN\.([^{}\s]+)\}|\[ASIN\.([^\[\]\s]+)\]|\[([A-Za-z0-9]{10})\]")
_YEAR = re.compile(r"(?:1[89]|20)\d\d")
_YEAR_IN_PARENS = re.compile(r"\((?:1[89]|20)\d\d\)")
_TRAILING_PARENS = re.compile(r"\s*\(([^()]*)\)\s*$")
_TRAILING_VOLUME = re.compile(r"(?:\s*-\s*|\s+)vol_(\S+)\s*$", re.IGNORECASE)
_SERIES_NUMBER = re.compile(r"^(?P<name>.+?)\s*#\s*(?P<position>[\w.\-]+)$")


AsinSource = Literal["metadata", "folder", "file"]


# --------------------------------------------------------------------------- report models


class Candidate(BaseModel):
    """A folder that will become a release."""

    asin: str
    source_dir: Path
    book: BookInfo
    audio_files: list[str]
    extra_files: list[str] = Field(default_factory=list)
    asin_source: AsinSource
    warnings: list[str] = Field(default_factory=list)

    def to_release(self) -> Release:
        return Release(
            asin=self.asin,
            title=self.book.title,
            author=self.book.authors[0] if self.book.authors else "",
            source_dir=str(self.source_dir),
            book=self.book,
            warnings=list(self.warnings),
        )


# A path in a report: JSON carries it printable (a name that is not UTF-8 cannot be JSON).
ReportedPath = Annotated[Path, PlainSerializer(lambda p: printable(str(p)), when_used="json")]


class Reject(BaseModel):
    """A folder that is not processed, and why."""

    path: ReportedPath
    reason: str


class Settling(BaseModel):
    """A folder changed moments ago (Libation may still be writing); the next scan looks again."""

    path: ReportedPath
    changed_seconds_ago: float
    ready_in_seconds: float

    def __str__(self) -> str:  # listings print the folder
        return str(self.path)


class DuplicateAsin(BaseModel):
    """Several folders claim one ASIN: none of them is processed until one remains."""

    asin: str
    paths: list[ReportedPath]
    reason: str


class ScanStats(BaseModel):
    folders: int = 0
    from_cache: int = 0
    examined: int = 0
    seconds: float = 0.0


class DiscoveryReport(BaseModel):
    releases: list[Candidate] = Field(default_factory=list)
    rejects: list[Reject] = Field(default_factory=list)
    settling: list[Settling] = Field(default_factory=list)
    duplicates: list[DuplicateAsin] = Field(default_factory=list)
    stats: ScanStats = Field(default_factory=ScanStats)


# --------------------------------------------------------------------------- file selection


class FileSelection(BaseModel):
    """Which files of a book folder are staged. Shared by discovery and staging."""

    audio: list[str] = Field(default_factory=list)
    extras: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    problem: str | None = None  # why there is no usable audio

    @property
    def files(self) -> list[str]:
        return sorted([*self.audio, *self.extras], key=natural_key)


def select_files(names: Iterable[str], allowed: Sequence[str]) -> FileSelection:
    """Audio of one format plus allowed ancillaries; never Libation's metadata or hidden files."""
    allowed_set = {ext.lower() for ext in allowed}
    by_ext: dict[str, list[str]] = defaultdict(list)
    for name in sorted(names, key=natural_key):
        lowered = name.lower()
        if name.startswith(".") or lowered.endswith(METADATA_SUFFIX) or lowered == ABS_METADATA:
            continue
        by_ext[_suffix(lowered)].append(name)
    selection = FileSelection()
    formats = [ext for ext in FORMAT_PREFERENCE if by_ext.get(ext) and ext in allowed_set]
    if formats:
        selection.audio = by_ext[formats[0]]
        if len(formats) > 1:
            others = ", ".join(formats[1:])
            selection.warnings.append(
                f"audio: the folder also holds {others} files; only the {formats[0]} files "
                "are staged (one format per torrent)"
            )
    else:
        selection.problem = _no_audio_reason(by_ext)
    selection.extras = [
        name
        for ext, found in by_ext.items()
        if ext in allowed_set and ext not in AUDIO_EXTENSIONS
        for name in found
    ]
    return selection


def _no_audio_reason(by_ext: dict[str, list[str]]) -> str:
    present = [ext for ext in AUDIO_EXTENSIONS if by_ext.get(ext)]
    if present:
        return (
            f"its audio ({', '.join(present)}) is not in MAMFAST_ALLOWED_EXTENSIONS; "
            "add the extension to stage it"
        )
    if any(by_ext.get(ext) for ext in ENCRYPTED_AUDIO):
        return "holds only encrypted .aax/.aaxc audio: let Libation decrypt it first"
    return "no audio files (.m4b, .m4a or .mp3)"


# --------------------------------------------------------------------------- parsing


@dataclass
class FolderName:
    """What a Libation-style folder name says: `Title vol_NN (Year) (Author) {ASIN.X} [Tag]`."""

    title: str = ""
    volume: str | None = None
    year: str | None = None
    author: str | None = None
    asin: str | None = None  # as written; may be invalid


def parse_folder_name(name: str) -> FolderName:
    info = FolderName()
    tokens = list(_ASIN_TOKEN.finditer(name))
    token = tokens[-1] if tokens else None  # the last: a title may hold brackets of its own
    head = name
    if token is not None:
        info.asin = next(g for g in token.groups() if g).upper()
        head = name[: token.start()]
    groups: list[str] = []
    while len(groups) < 2 and (match := _TRAILING_PARENS.search(head)):
        groups.insert(0, match.group(1).strip())
        head = head[: match.start()]
    # "(Year) (Author)", or "(Year)"; a lone "(...)" is part of the title ("(Light Novel)").
    if len(groups) == 2 and _YEAR.fullmatch(groups[0]):
        info.year, info.author = groups
    elif groups and _YEAR.fullmatch(groups[-1]):
        info.year = groups[-1]
        head += "".join(f" ({g})" for g in groups[:-1])
    else:
        head += "".join(f" ({g})" for g in groups)
    if match := _TRAILING_VOLUME.search(head):
        info.volume = match.group(1)
        head = head[: match.start()]
    info.title = head.strip(" -")
    return info


def asin_in_name(name: str) -> str | None:
    for token in _ASIN_TOKEN.finditer(name):
        value = next(g for g in token.groups() if g).upper()
        if valid_asin(value):
            return value
    return None


def book_from_metadata(data: dict[str, Any], *, metadata_file: str) -> tuple[BookInfo, str | None]:
    """Libation's Audible dump (or an Audiobookshelf metadata.json) -> BookInfo and raw ASIN."""
    if "title" not in data and isinstance(data.get("product"), dict):
        data = data["product"]
    asin = next(
        (str(data[k]).strip() for k in ("asin", "Asin", "ASIN", "id") if _text(data.get(k))), None
    )
    book = BookInfo(
        title=_text(data.get("title")),
        subtitle=_text(data.get("subtitle")),
        authors=_names(data.get("authors") or data.get("author")),
        narrators=_names(data.get("narrators") or data.get("narrator")),
        series=_series(data.get("series") or data.get("series_primary")),
        year=_year(data),
        language=_text(data.get("language")) or None,
        publisher=_text(data.get("publisher_name") or data.get("publisher")) or None,
        summary=_text(
            data.get("publisher_summary")
            or data.get("merchandising_summary")
            or data.get("description")
        )
        or None,
        runtime_minutes=_minutes(data.get("runtime_length_min")),
        metadata_file=metadata_file,
    )
    return book, asin


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _names(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = _text(item.get("name") if isinstance(item, dict) else item)
        if name:
            names.append(name)
    return names


def _series(value: Any) -> list[SeriesRef]:
    items = value if isinstance(value, list) else [value]
    refs = []
    for item in items:
        if isinstance(item, dict):
            name = _text(item.get("name") or item.get("title"))
            position = item.get("position", item.get("sequence"))
            position_text = str(position).strip() if position not in (None, "") else None
        else:
            text = _text(item)
            match = _SERIES_NUMBER.match(text)  # Audiobookshelf: "Name #3"
            name, position_text = (match["name"], match["position"]) if match else (text, None)
        if name:
            refs.append(SeriesRef(name=name, position=position_text))
    return refs


def _year(data: dict[str, Any]) -> str | None:
    for key in ("release_date", "issue_date", "publication_datetime", "year", "publishedYear"):
        value = str(data.get(key) or "")[:4]
        if _YEAR.fullmatch(value):
            return value
    return None


def _minutes(value: Any) -> int | None:
    with contextlib.suppress(TypeError, ValueError):
        return int(value)
    return None


# --------------------------------------------------------------------------- cache


class _CacheEntry(BaseModel):
    signature: str
    candidate: Candidate | None = None
    reject: str | None = None


class ScanCache:
    """Per-folder results keyed by a signature of the folder and its files' sizes and mtimes."""

    def __init__(self, path: Path, entries: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self.entries = entries
        self.changed = False

    @classmethod
    def load(cls, path: Path) -> ScanCache:
        try:
            raw = json.loads(path.read_text("utf-8"))
            if raw.get("version") == CACHE_VERSION and isinstance(raw.get("entries"), dict):
                return cls(path, raw["entries"])
        except (OSError, ValueError, AttributeError):
            pass  # no cache yet, or an unreadable one: a full scan rebuilds it
        return cls(path, {})

    def get(self, folder: str, signature: str) -> _CacheEntry | None:
        raw = self.entries.get(folder)
        if raw is None or raw.get("signature") != signature:
            return None
        try:
            return _CacheEntry.model_validate(raw)
        except ValueError:
            return None

    def put(self, folder: str, entry: _CacheEntry) -> None:
        self.entries[folder] = entry.model_dump(mode="json", exclude_none=True)
        self.changed = True

    def keep_only(self, roots: Sequence[Path], seen: set[str]) -> None:
        """Forget folders under the scanned roots that this scan did not see."""
        prefixes = [str(root).rstrip(os.sep) + os.sep for root in roots]
        for folder in list(self.entries):
            inside = any(folder.startswith(p) or folder == p[:-1] for p in prefixes)
            if inside and folder not in seen:
                del self.entries[folder]
                self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "entries": self.entries}), "utf-8")
        tmp.replace(self.path)


# --------------------------------------------------------------------------- the walk


def discover(settings: Settings, paths: Sequence[Path] | None = None) -> DiscoveryReport:
    """Scan the library (or `paths` within it) and sort every book folder into the report."""
    started = time.monotonic()
    roots = [Path(p) for p in paths] if paths else []
    if not roots:
        if settings.library_dir is None:
            raise ConfigError(
                "no library to scan", hint="set MAMFAST_LIBRARY_DIR or pass the folders to scan"
            )
        roots = [settings.library_dir]
    cache = ScanCache.load(settings.data_dir / CACHE_NAME)
    scan = _Scan(settings, cache, now=time.time())
    for root in roots:
        scan.walk_root(root)
    report = scan.report()
    cache.keep_only([r.resolve() for r in roots if r.exists()], scan.seen)
    try:
        cache.save()
    except OSError as exc:  # the cache only saves time; the scan result stands
        log.warning("could not save the discovery cache %s: %s", cache.path, exc)
    report.stats.seconds = round(time.monotonic() - started, 3)
    return report


@dataclass
class _Scan:
    settings: Settings
    cache: ScanCache
    now: float
    candidates: list[Candidate] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    settling: list[Settling] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    visited: set[str] = field(default_factory=set)
    stats: ScanStats = field(default_factory=ScanStats)

    @property
    def _settle(self) -> float:
        return self.settings.settle_seconds

    @property
    def _settings_key(self) -> str:
        # Settings that change a folder's outcome are part of its cache key (as is the
        # library root), so changing them re-reads the folder instead of trusting the cache.
        return ",".join(self.settings.allowed_extensions)

    def walk_root(self, root: Path) -> None:
        if not root.is_dir():
            self.rejects.append(Reject(path=root, reason="does not exist or is not a folder"))
            return
        real = root.resolve()
        library_dir = self.settings.library_dir
        library = library_dir.resolve() if library_dir else None
        named_inside = library_dir and root.absolute().is_relative_to(library_dir.absolute())
        if named_inside and library and not real.is_relative_to(library):
            self._reject(root, f"is a symlink to {real}, outside the library: not followed")
            return
        boundary = library if library and real.is_relative_to(library) else real
        self._visit(str(real), boundary, depth=0)

    # The walk works on str paths: pathlib objects for 10,000s of folders cost more than
    # the system calls themselves.
    def _visit(self, folder: str, boundary: Path, depth: int) -> None:
        if folder in self.visited:
            return
        self.visited.add(folder)
        self.stats.folders += 1
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)  # order does not matter: the report is sorted
        except OSError as exc:
            self._reject(Path(folder), f"cannot be read: {exc.strerror or exc}")
            return
        files = [e for e in entries if _is_file(e)]
        names = [e.name for e in files]
        if any(_suffix(n) in AUDIO_EXTENSIONS for n in names):
            broken = {
                e.name: f"is a broken symlink (to {_link_target(e)})"
                for e in entries
                if _is_broken_link(e)
            }
            missing = missing_parts(names, broken, self.settings.allowed_extensions)
            if missing:
                self.seen.add(folder)
                self._reject(Path(folder), f"{missing}; restore the file, then scan again")
            else:
                self._examine(folder, boundary, files)
            return  # a book folder's subfolders are part of the book, not releases
        subdirs = [e for e in entries if e.is_dir() and not e.name.startswith((".", "@", "#"))]
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
            self._visit(target, boundary, depth + 1)

    def _examine(self, folder: str, boundary: Path, files: list[os.DirEntry[str]]) -> None:
        self.seen.add(folder)
        try:
            stats = {e.name: _stat_inside(e, boundary) for e in files}
            folder_mtime = os.stat(folder).st_mtime_ns  # noqa: PTH116 (str paths: see _visit)
        except _OutsideLibraryError as exc:
            self._reject(Path(folder), str(exc))
            return
        except FileNotFoundError:  # a file vanished mid-scan: Libation is moving things
            self.settling.append(
                Settling(path=Path(folder), changed_seconds_ago=0.0, ready_in_seconds=self._settle)
            )
            return
        except OSError as exc:
            self._reject(Path(folder), f"cannot be read: {exc.strerror or exc}")
            return
        newest = max([folder_mtime, *(s[1] for s in stats.values())]) / 1e9
        age = max(self.now - newest, 0.0)
        if age < self._settle:
            self.settling.append(
                Settling(
                    path=Path(folder),
                    changed_seconds_ago=round(age, 1),
                    ready_in_seconds=round(self._settle - age, 1),
                )
            )
            return
        signature = f"{folder_mtime}|{boundary}|{self._settings_key}|{_files_key(stats)}"
        entry = self.cache.get(folder, signature)
        if entry is None:
            entry = self._parse(Path(folder), boundary, sorted(stats), signature)
            self.cache.put(folder, entry)
            self.stats.examined += 1
        else:
            self.stats.from_cache += 1
        if entry.candidate is not None:
            self.candidates.append(entry.candidate)
        else:
            self.rejects.append(Reject(path=Path(folder), reason=entry.reject or "unusable"))

    def _parse(self, folder: Path, boundary: Path, names: list[str], signature: str) -> _CacheEntry:
        try:
            candidate = _build_candidate(folder, names, self.settings, boundary=boundary)
        except _RejectedError as exc:
            return _CacheEntry(signature=signature, reject=str(exc))
        except Exception as exc:  # one folder must never stop the scan of the others
            log.exception("unexpected error reading %s", printable(str(folder)))
            reason = f"could not be read: unexpected {type(exc).__name__} ({exc}); please report it"
            return _CacheEntry(signature=signature, reject=printable(reason))
        return _CacheEntry(signature=signature, candidate=candidate)

    def _reject(self, path: Path, reason: str) -> None:
        self.rejects.append(Reject(path=path, reason=reason))

    def report(self) -> DiscoveryReport:
        by_asin: dict[str, list[Candidate]] = defaultdict(list)
        for candidate in self.candidates:
            by_asin[candidate.asin].append(candidate)
        releases: list[Candidate] = []
        duplicates: list[DuplicateAsin] = []
        for asin, group in sorted(by_asin.items()):
            if len(group) == 1:
                releases.append(group[0])
                continue
            paths = sorted(c.source_dir for c in group)
            duplicates.append(
                DuplicateAsin(
                    asin=asin,
                    paths=paths,
                    reason=f"{len(paths)} folders claim ASIN {asin}; neither is processed until "
                    "only one remains (delete or move the others, then scan again)",
                )
            )
        return DiscoveryReport(
            releases=sorted(releases, key=lambda c: str(c.source_dir)),
            rejects=sorted(self.rejects, key=lambda r: str(r.path)),
            settling=sorted(self.settling, key=lambda s: str(s.path)),
            duplicates=duplicates,
            stats=self.stats,
        )


class _RejectedError(Exception):
    """A book folder that cannot become a release (the message is the reason)."""


class _OutsideLibraryError(Exception):
    pass


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _stat_inside(entry: os.DirEntry[str], boundary: Path) -> tuple[int, int]:
    """(size, mtime_ns) of a file, refusing symlinks that lead out of the library."""
    if entry.is_symlink():
        resolved = Path(entry.path).resolve()
        if not resolved.is_relative_to(boundary):
            raise _OutsideLibraryError(
                f"{entry.name} is a symlink to {resolved}, outside the library: not followed"
            )
    stat = entry.stat()
    return stat.st_size, stat.st_mtime_ns


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


def missing_parts(names: Sequence[str], bad: dict[str, str], allowed: Sequence[str]) -> str | None:
    """Why the book cannot be staged when a file it would stage is a bad link, else None.

    `bad` maps link names to what is wrong with them. Dropping such a file would quietly
    publish an incomplete book, and renumber the parts after it. Shared with staging.
    """
    chosen = set(select_files([*names, *bad], allowed).files)
    wrong = [f"{name} {bad[name]}" for name in sorted(bad, key=natural_key) if name in chosen]
    if not wrong:
        return None
    return (
        f"{'; '.join(wrong)}: a part of the book is missing, and a book is never staged "
        "with a part missing"
    )


def _files_key(stats: dict[str, tuple[int, int]]) -> str:
    return ";".join(f"{n}:{s}:{m}" for n, (s, m) in sorted(stats.items()))


def _looks_like_a_book(name: str, files: Sequence[str]) -> bool:
    lowered = [f.lower() for f in files]
    return (
        asin_in_name(name) is not None
        or any(f.endswith(METADATA_SUFFIX) or f == ABS_METADATA for f in lowered)
        or any(_suffix(f) in ENCRYPTED_AUDIO for f in lowered)
    )


# --------------------------------------------------------------------------- one book folder


def _build_candidate(
    folder: Path, names: Sequence[str], settings: Settings, *, boundary: Path
) -> Candidate:
    """Turn one book folder into a Candidate, or raise _RejectedError saying why not."""
    selection = select_files(names, settings.allowed_extensions)
    if selection.problem:
        raise _RejectedError(selection.problem)
    _utf8_names(folder, boundary, selection.files)
    book, meta_asin = _read_metadata(folder, names)
    from_name = parse_folder_name(folder.name)
    asin, source, warnings = _choose_asin(meta_asin, from_name.asin, selection.audio)
    book = _fill_gaps(book, from_name, folder, boundary)
    return Candidate(
        asin=asin,
        source_dir=folder,
        book=book,
        audio_files=selection.audio,
        extra_files=selection.extras,
        asin_source=source,
        warnings=[*warnings, *selection.warnings],
    )


def _utf8_names(folder: Path, boundary: Path, files: Sequence[str]) -> None:
    """Folder and file names must be UTF-8: they become MAM names, torrent paths and JSON."""
    parts = folder.relative_to(boundary).parts if folder != boundary else (folder.name,)
    for name in [*parts, *files]:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise _RejectedError(
                f"the name {printable(name)!s} is not valid UTF-8 (it holds bytes from another "
                "character set); rename it in UTF-8, then scan again"
            ) from None


def _read_metadata(folder: Path, names: Sequence[str]) -> tuple[BookInfo, str | None]:
    found = sorted(n for n in names if n.lower().endswith(METADATA_SUFFIX))
    found += [n for n in names if n.lower() == ABS_METADATA]
    if not found:
        return BookInfo(), None
    name = found[0]
    try:
        data = json.loads((folder / name).read_bytes())
    except OSError as exc:
        raise _RejectedError(
            f"its metadata file {name} cannot be read ({exc.strerror or exc})"
        ) from None
    except ValueError as exc:
        raise _RejectedError(
            f"its metadata file {name} is not valid JSON ({exc}); let Libation rewrite it "
            "or delete it to fall back to the folder name"
        ) from None
    except RecursionError:
        raise _RejectedError(
            f"its metadata file {name} is nested too deeply to be Libation's; let Libation "
            "rewrite it or delete it to fall back to the folder name"
        ) from None
    if not isinstance(data, dict):
        raise _RejectedError(f"its metadata file {name} does not hold a JSON object")
    return book_from_metadata(data, metadata_file=name)


def _choose_asin(
    meta_asin: str | None, folder_asin: str | None, audio: Sequence[str]
) -> tuple[str, AsinSource, list[str]]:
    file_asin = next((a for a in map(asin_in_name, audio) if a), None)
    sources: tuple[tuple[AsinSource, str | None], ...] = (
        ("metadata", meta_asin),
        ("folder", folder_asin),
        ("file", file_asin),
    )
    found = [(source, value.strip().upper()) for source, value in sources if value]
    usable = [(source, value) for source, value in found if valid_asin(value)]
    if not usable:
        if found:
            shown = ", ".join(f"{value!r} in the {_where(source)}" for source, value in found)
            raise _RejectedError(
                f"no valid ASIN: found {shown}, but an ASIN is B + 9 letters/digits or an ISBN-10"
            )
        raise _RejectedError(
            "no ASIN: none in a *.metadata.json, the folder name ({ASIN.X} or [X]) "
            "or the audio file names"
        )
    source, asin = usable[0]
    warnings = [
        f"asin: the {_where(other)} says {value}, but {asin} from the {_where(source)} is used"
        for other, value in found
        if value != asin
    ]
    return asin, source, warnings


def _where(source: str) -> str:
    return {"metadata": "metadata file", "folder": "folder name", "file": "audio file name"}[source]


def _fill_gaps(book: BookInfo, name: FolderName, folder: Path, boundary: Path) -> BookInfo:
    """Folder name and Libation's Author/Series/Book layout fill what the metadata lacks."""
    parents = folder.relative_to(boundary).parts[:-1] if folder != boundary else ()
    update: dict[str, Any] = {}
    title = book.title or name.title or folder.name
    update["title"] = title
    if not book.authors:
        author = name.author or (parents[0] if parents else None)
        update["authors"] = [author] if author else []
    if not book.year and name.year:
        update["year"] = name.year
    series = list(book.series)
    if not series:
        series = _series_fallback(title, parents, update.get("authors") or book.authors)
    if series and not series[0].position and name.volume:
        series[0] = series[0].model_copy(update={"position": name.volume})
    update["series"] = series
    return book.model_copy(update=update)


def _series_fallback(title: str, parents: Sequence[str], authors: Sequence[str]) -> list[SeriesRef]:
    # Author/Series/Book: the middle folder names the series (unless it is a book folder).
    if len(parents) >= 2:
        candidate = parents[-1]
        if (
            asin_in_name(candidate) is None
            and candidate not in authors
            and not _YEAR_IN_PARENS.search(candidate)
        ):
            return [SeriesRef(name=candidate)]
    parsed = series_from_title(title)
    return [SeriesRef(name=parsed[0], position=parsed[1])] if parsed else []
