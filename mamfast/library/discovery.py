"""Reading the Libation library: the whole library for the pipeline, one folder by hand.

`discover` walks the library (`walk`), reads each settled book folder
(`book`) or answers it from the scan cache (`cache`), and sorts every folder
into the `DiscoveryReport`: releases, rejects with their reasons, folders
still settling, and ASINs claimed by several folders (both reported, neither
processed). `read_folder` reads one folder (or one audio file) named on the
command line the same way, for `mamfast mamjson` and `mamfast bbcode`.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mamfast.config import Settings
from mamfast.display import printable
from mamfast.errors import ConfigError, MamfastError
from mamfast.library.book import BookFolder, Candidate, read_book
from mamfast.library.cache import CACHE_NAME, CacheEntry, ScanCache
from mamfast.library.metadata import UnusableBookError, is_metadata_file
from mamfast.library.report import DiscoveryReport, DuplicateAsin, Reject, ScanStats
from mamfast.library.selection import missing_parts
from mamfast.library.walk import FoundBook, LibraryWalk, list_folder

log = logging.getLogger(__name__)


def discover(
    settings: Settings, paths: Sequence[Path] | None = None, *, save_cache: bool = True
) -> DiscoveryReport:
    """Scan the library (or `paths` within it) and sort every book folder into the report.

    `save_cache=False` (a dry run) reads the scan cache but writes nothing."""
    started = time.monotonic()
    roots = [Path(p) for p in paths] if paths else []
    if not roots:
        if settings.library_dir is None:
            raise ConfigError(
                "no library to scan", hint="set MAMFAST_LIBRARY_DIR or pass the folders to scan"
            )
        roots = [settings.library_dir]
    cache = ScanCache.load(settings.data_dir / CACHE_NAME)
    walk = LibraryWalk(settings, now=time.time())
    reading = _Reading(settings, cache)
    for root in roots:
        for found in walk.books(root):
            reading.read(found)
    report = reading.report(walk)
    cache.keep_only([r.resolve() for r in roots if r.exists()], walk.seen)
    try:
        if save_cache:
            cache.save()
    except (OSError, MamfastError) as exc:  # the cache only saves time; the scan result stands
        log.warning("could not save the discovery cache %s: %s", cache.path, exc)
    report.stats.seconds = round(time.monotonic() - started, 3)
    return report


def read_folder(path: Path, settings: Settings) -> BookFolder:
    """A book folder, or one audio file in one, named by hand: read as a scan reads it.

    For one file, that file is the book's audio; the folder's metadata file and name
    still say what the book is. Inside the library, Libation's Author/Series/Book
    layout counts as in a scan. Raises UnusableBookError saying why it is no book.
    """
    folder = (path if path.is_dir() else path.parent).resolve()
    listing = list_folder(str(folder))
    names = [e.name for e in listing.files]
    broken = listing.broken_links()
    if not path.is_dir():
        names = [path.name, *(n for n in names if is_metadata_file(n) and n != path.name)]
        broken = {}
    missing = missing_parts(names, broken, settings.allowed_extensions)
    if missing:
        raise UnusableBookError(f"{missing}; restore the file, then try again")
    library = settings.library_dir.resolve() if settings.library_dir else None
    boundary = library if library and folder.is_relative_to(library) else folder
    return read_book(folder, sorted(names), settings.allowed_extensions, boundary=boundary)


@dataclass
class _Reading:
    """Each found book folder read (or answered from the cache), then the report assembled."""

    settings: Settings
    cache: ScanCache
    candidates: list[Candidate] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    stats: ScanStats = field(default_factory=ScanStats)

    @property
    def _settings_key(self) -> str:
        # Settings that change a folder's outcome are part of its cache key (as is the
        # library root), so changing them re-reads the folder instead of trusting the cache.
        return ",".join(self.settings.allowed_extensions)

    def read(self, found: FoundBook) -> None:
        files_key = ";".join(
            f"{n}:{s}:{m}:{i}:{c}" for n, (s, m, i, c) in sorted(found.files.items())
        )
        signature = f"{found.folder_mtime}|{found.boundary}|{self._settings_key}|{files_key}"
        entry = self.cache.get(found.folder, signature)
        if entry is None:
            entry = self._read(Path(found.folder), found.boundary, sorted(found.files), signature)
            self.cache.put(found.folder, entry)
            self.stats.examined += 1
        else:
            self.stats.from_cache += 1
        if entry.candidate is not None:
            self.candidates.append(entry.candidate)
        else:
            self.rejects.append(Reject(path=Path(found.folder), reason=entry.reject or "unusable"))

    def _read(self, folder: Path, boundary: Path, names: list[str], signature: str) -> CacheEntry:
        try:
            allowed = self.settings.allowed_extensions
            candidate = read_book(folder, names, allowed, boundary=boundary).candidate()
        except UnusableBookError as exc:
            return CacheEntry(signature=signature, reject=str(exc))
        except Exception as exc:  # one folder must never stop the scan of the others
            log.exception("unexpected error reading %s", printable(str(folder)))
            reason = f"could not be read: unexpected {type(exc).__name__} ({exc}); please report it"
            return CacheEntry(signature=signature, reject=printable(reason))
        return CacheEntry(signature=signature, candidate=candidate)

    def report(self, walk: LibraryWalk) -> DiscoveryReport:
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
        self.stats.folders = walk.folders
        return DiscoveryReport(
            releases=sorted(releases, key=lambda c: str(c.source_dir)),
            rejects=sorted([*walk.rejects, *self.rejects], key=lambda r: str(r.path)),
            settling=sorted(walk.settling, key=lambda s: str(s.path)),
            duplicates=duplicates,
            stats=self.stats,
        )
