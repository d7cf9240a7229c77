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
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mamfast.config import Settings
from mamfast.display import printable
from mamfast.errors import ConfigError, MamfastError
from mamfast.library.book import BookFolder, Candidate, read_book
from mamfast.library.cache import CACHE_NAME, CachedReading, ScanCache, signature_of
from mamfast.library.metadata import UnusableBookError, is_metadata_file
from mamfast.library.report import (
    DiscoveryReport,
    DuplicateAsin,
    KnownRelease,
    Reject,
    ScanStats,
)
from mamfast.library.selection import missing_parts
from mamfast.library.walk import FoundBook, LibraryWalk, list_folder

log = logging.getLogger(__name__)


def discover(
    settings: Settings, paths: Sequence[Path] | None = None, *, save_cache: bool = True
) -> DiscoveryReport:
    """Scan the library (or `paths` within it) and sort every book folder into the report.

    `save_cache=False` (a dry run) reads the scan cache but writes nothing."""
    return scan_library(settings, paths).report(save_cache=save_cache)


def scan_library(settings: Settings, paths: Sequence[Path] | None = None) -> LibraryScan:
    """Walk the library (or `paths` within it): each settled book folder read, or answered
    from the scan cache. `LibraryScan.report` then sorts them into the report."""
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
    scan = LibraryScan(settings, cache, walk, roots, started)
    for root in roots:
        for found in walk.books(root):
            scan.read(found)
    return scan


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
class _Found:
    """A book folder read as a release: its reading now, or its cached one (built if used)."""

    folder: str
    asin: str
    title: str
    candidate: Candidate | None = None
    cached: CachedReading | None = None


@dataclass
class LibraryScan:
    """Each found book folder read (or answered from the cache), then the report assembled."""

    settings: Settings
    cache: ScanCache
    walk: LibraryWalk
    roots: list[Path]
    started: float
    found: list[_Found] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    stats: ScanStats = field(default_factory=ScanStats)
    # folder -> what it was found as and its signature: to read it again if its cached
    # reading turns out damaged when it is built
    _signatures: dict[str, tuple[FoundBook, str]] = field(default_factory=dict)

    @property
    def _settings_key(self) -> str:
        # Settings that change a folder's outcome are part of its cache key (as is the
        # library root), so changing them re-reads the folder instead of trusting the cache.
        return ",".join(self.settings.allowed_extensions)

    def unchanged(self) -> dict[str, str]:
        """ASIN -> folder of the releases answered from the cache (their folders did not
        change since the scan that read them)."""
        return {f.asin: f.folder for f in self.found if f.cached is not None}

    def read(self, found: FoundBook) -> None:
        files_key = ";".join(
            f"{n}:{s}:{m}:{i}:{c}" for n, (s, m, i, c) in sorted(found.files.items())
        )
        signature = signature_of(
            f"{found.folder_mtime}|{found.boundary}|{self._settings_key}|{files_key}"
        )
        cached = self.cache.get(found.folder, signature)
        if cached is not None and cached.asin is not None:
            self.stats.from_cache += 1
            self.found.append(_Found(found.folder, cached.asin, cached.title, None, cached))
            self._signatures[found.folder] = (found, signature)
            return
        if cached is not None:
            self.stats.from_cache += 1
            outcome: Candidate | str = cached.reject or "unusable"
        else:
            outcome = self._read_now(found, signature)
        if isinstance(outcome, str):
            self.rejects.append(Reject(path=Path(found.folder), reason=outcome))
        else:
            self.found.append(_Found(found.folder, outcome.asin, outcome.book.title, outcome))

    def _read_now(self, found: FoundBook, signature: str) -> Candidate | str:
        outcome = self._read(Path(found.folder), found.boundary, sorted(found.files))
        self.cache.put(found.folder, signature, outcome)
        self.stats.examined += 1
        return outcome

    def _read(self, folder: Path, boundary: Path, names: list[str]) -> Candidate | str:
        """The folder's release, or why it is none."""
        try:
            allowed = self.settings.allowed_extensions
            return read_book(folder, names, allowed, boundary=boundary).candidate()
        except UnusableBookError as exc:
            return str(exc)
        except Exception as exc:  # one folder must never stop the scan of the others
            log.exception("unexpected error reading %s", printable(str(folder)))
            reason = f"could not be read: unexpected {type(exc).__name__} ({exc}); please report it"
            return printable(reason)

    def _candidate(self, found: _Found) -> Candidate | None:
        """The release's reading: built from the cache, or, if the cached reading is
        damaged, the folder read again (a reject then is reported as one)."""
        if found.candidate is None and found.cached is not None:
            found.candidate = found.cached.candidate()
            if found.candidate is None:
                self.stats.from_cache -= 1
                outcome = self._read_now(*self._signatures[found.folder])
                if isinstance(outcome, str):
                    self.rejects.append(Reject(path=Path(found.folder), reason=outcome))
                else:
                    found.candidate = outcome
        return found.candidate

    def report(self, skip: Collection[str] = (), *, save_cache: bool = True) -> DiscoveryReport:
        """The scan sorted into a report; then the cache is saved (unless `save_cache` is False).

        `skip`: ASINs whose unchanged folders are only listed in `known` (their release is
        already recorded and finished): their readings are not built."""
        by_asin: dict[str, list[_Found]] = defaultdict(list)
        for found in self.found:
            by_asin[found.asin].append(found)
        releases: list[Candidate] = []
        known: list[KnownRelease] = []
        duplicates: list[DuplicateAsin] = []
        for asin, group in sorted(by_asin.items()):
            if len(group) == 1:
                found = group[0]
                if asin in skip and found.cached is not None:
                    known.append(
                        KnownRelease(asin=asin, title=found.title, source_dir=found.folder)
                    )
                elif (candidate := self._candidate(found)) is not None:
                    releases.append(candidate)
                continue
            paths = sorted(Path(f.folder) for f in group)
            duplicates.append(
                DuplicateAsin(
                    asin=asin,
                    paths=paths,
                    reason=f"{len(paths)} folders claim ASIN {asin}; neither is processed until "
                    "only one remains (delete or move the others, then scan again)",
                )
            )
        self.stats.folders = self.walk.folders
        self._save(save_cache)
        self.stats.seconds = round(time.monotonic() - self.started, 3)
        return DiscoveryReport(
            releases=sorted(releases, key=lambda c: str(c.source_dir)),
            known=known,  # in ASIN order
            rejects=sorted([*self.walk.rejects, *self.rejects], key=lambda r: str(r.path)),
            settling=sorted(self.walk.settling, key=lambda s: str(s.path)),
            duplicates=duplicates,
            stats=self.stats,
        )

    def _save(self, save_cache: bool) -> None:
        self.cache.keep_only([r.resolve() for r in self.roots if r.exists()], self.walk.seen)
        try:
            if save_cache:
                self.cache.save()
        except (OSError, MamfastError) as exc:  # the cache only saves time; the result stands
            log.warning("could not save the discovery cache %s: %s", self.cache.path, exc)
