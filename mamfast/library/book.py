"""One book folder read as a release: which files, what book, which ASIN.

The one reader of a Libation book folder. A scan builds every `Candidate`
here, and `mamfast mamjson` / `mamfast bbcode` read the folder they are given
here too (`discovery.read_folder`), so the pipeline and those commands always
choose the same files, the same book data and the same ASIN for one folder.

The ASIN comes from the metadata file (Libation's or Audiobookshelf's), else
the folder name (`{ASIN.X}`, `[ASIN.X]`, `[X]`), else the audio file names;
the sources that disagree with the chosen one are reported as warnings. What
the metadata lacks is filled from the folder name and Libation's
Author/Series/Book layout (relative to `boundary`, the library).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from mamfast.asin import in_name, valid_asin
from mamfast.display import printable
from mamfast.library.metadata import UnusableBookError, read_metadata
from mamfast.library.names import YEAR_IN_PARENS, FolderName, parse_folder_name, series_from_title
from mamfast.library.selection import FileSelection, select_files
from mamfast.models import BookInfo, Release, SeriesRef

AsinSource = Literal["metadata", "folder", "file"]


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


@dataclass(frozen=True)
class AsinClaims:
    """The ASIN each source names, as written (None: it names none)."""

    metadata: str | None
    folder: str | None
    file: str | None

    def found(self) -> list[tuple[AsinSource, str]]:
        sources: tuple[tuple[AsinSource, str | None], ...] = (
            ("metadata", self.metadata),
            ("folder", self.folder),
            ("file", self.file),
        )
        return [(source, value.strip().upper()) for source, value in sources if value]

    def choose(self) -> tuple[str, AsinSource, list[str]]:
        """The first valid claim, and a warning for each source that says otherwise."""
        found = self.found()
        usable = [(source, value) for source, value in found if valid_asin(value)]
        if not usable:
            if found:
                shown = ", ".join(f"{value!r} in the {_where(source)}" for source, value in found)
                raise UnusableBookError(
                    f"no valid ASIN: found {shown}, but an ASIN is B + 9 letters/digits or an "
                    "ISBN-10"
                )
            raise UnusableBookError(
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


@dataclass(frozen=True)
class BookFolder:
    """A book folder read, before its ASIN is chosen."""

    folder: Path
    book: BookInfo
    selection: FileSelection
    claims: AsinClaims

    def candidate(self) -> Candidate:
        """The release this folder becomes; UnusableBookError when it has no valid ASIN."""
        asin, source, warnings = self.claims.choose()
        return Candidate(
            asin=asin,
            source_dir=self.folder,
            book=self.book,
            audio_files=self.selection.audio,
            extra_files=self.selection.extras,
            asin_source=source,
            warnings=[*warnings, *self.selection.warnings],
        )


def read_book(
    folder: Path, names: Sequence[str], allowed: Sequence[str], *, boundary: Path
) -> BookFolder:
    """Read one book folder (`names`: its files), or raise UnusableBookError saying why not."""
    selection = select_files(names, allowed)
    if selection.problem:
        raise UnusableBookError(selection.problem)
    _utf8_names(folder, boundary, selection.files)
    book, meta_asin = read_metadata(folder, names)
    from_name = parse_folder_name(folder.name)
    claims = AsinClaims(
        metadata=meta_asin,
        folder=from_name.asin,
        file=next((a for a in map(in_name, selection.audio) if a), None),
    )
    return BookFolder(
        folder=folder,
        book=_fill_gaps(book, from_name, folder, boundary),
        selection=selection,
        claims=claims,
    )


def _utf8_names(folder: Path, boundary: Path, files: Sequence[str]) -> None:
    """Folder and file names must be UTF-8: they become MAM names, torrent paths and JSON."""
    parts = folder.relative_to(boundary).parts if folder != boundary else (folder.name,)
    for name in [*parts, *files]:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise UnusableBookError(
                f"the name {printable(name)!s} is not valid UTF-8 (it holds bytes from another "
                "character set); rename it in UTF-8, then scan again"
            ) from None


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
            in_name(candidate) is None
            and candidate not in authors
            and not YEAR_IN_PARENS.search(candidate)
        ):
            return [SeriesRef(name=candidate)]
    parsed = series_from_title(title)
    return [SeriesRef(name=parsed[0], position=parsed[1])] if parsed else []
