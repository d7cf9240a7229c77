"""One cleaned view of a book, merged from Audnex, Libation's metadata and MediaInfo.

The fast-fill JSON, the description and the review checklist are all built
from this, so they always agree (upstream's description header used the raw
Audnex title while the JSON used the repaired one).

Sources, best first: Audnex (when it has the book), then what discovery read
from Libation's metadata file (`release.book`), then the audio files' own tags.
All cleaning (swap repair, series suffixes, author roles, Japanese names)
comes from `mamfast.release.naming`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from mamfast.clients.audnex.models import Book, Found
from mamfast.clients.mediainfo import AudioInfo, ChapterMark
from mamfast.library.names import series_from_subtitle, series_from_title
from mamfast.models import BookInfo
from mamfast.release import languages
from mamfast.release.naming.authors import credited_people, filter_author_roles, romanize
from mamfast.release.naming.clean import (
    clean_series,
    clean_subtitle,
    clean_title,
    normalize_title_subtitle,
)
from mamfast.release.naming.rules import NamingRules
from mamfast.release.naming.volumes import volume_from_title

_NAME_SPLIT = re.compile(r"\s*[;/]\s*")


class SeriesEntry(BaseModel):
    name: str
    number: str = ""  # "1", "1.5", "1-3"; "" when unknown


class BookFacts(BaseModel):
    asin: str
    source: Literal["audnex", "libation"]
    audnex_region: str | None = None
    raw_title: str
    title: str
    subtitle: str | None = None
    swapped: bool = False
    authors: list[str] = Field(default_factory=list)
    narrators: list[str] = Field(default_factory=list)
    translators: list[str] = Field(default_factory=list)
    series: list[SeriesEntry] = Field(default_factory=list)
    series_guessed: bool = False  # read from the title, no source named a series
    summary_html: str | None = None
    publisher: str | None = None
    release_date: date | None = None
    year: str | None = None
    language: str | None = None
    genres: list[str] = Field(default_factory=list)  # Audible's broad categories
    genre_tags: list[str] = Field(default_factory=list)  # its specific tags
    image_url: str | None = None
    is_adult: bool = False
    abridged: bool = False
    literature_type: str | None = None
    runtime_minutes: float | None = None
    chapters: list[ChapterMark] = Field(default_factory=list)
    chapters_source: Literal["audnex", "mediainfo", "files"] | None = None
    listed_chapters: int | None = None  # how many Audnex lists, for the consistency check

    @property
    def display_title(self) -> str:
        return f"{self.title}: {self.subtitle}" if self.subtitle else self.title


@dataclass
class _Raw:
    """Uncleaned fields, gathered from whichever source had them."""

    title: str = ""
    subtitle: str | None = None
    authors: list[str] = field(default_factory=list)
    narrators: list[str] = field(default_factory=list)
    series: list[tuple[str, str | None]] = field(default_factory=list)
    summary: str | None = None
    publisher: str | None = None
    release_date: date | None = None
    year: str | None = None
    language: str | None = None
    genres: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    image: str | None = None
    is_adult: bool = False
    abridged: bool = False
    literature_type: str | None = None
    runtime_minutes: float | None = None


def build(
    asin: str,
    found: Found | None,
    libation: BookInfo,
    audio: AudioInfo,
    rules: NamingRules,
) -> BookFacts:
    raw = _from_audnex(found.book, libation) if found else _from_libation(libation)
    _fill_from_tags(raw, audio)
    facts = _clean(asin, raw, audio, rules)
    facts.source = "audnex" if found else "libation"
    facts.audnex_region = found.region if found else None
    _attach_chapters(facts, found, audio)
    return facts


# --------------------------------------------------------------------------- gathering


def _from_audnex(book: Book, lib: BookInfo) -> _Raw:
    series = [
        (s.name, s.position) for s in (book.series_primary, book.series_secondary) if s is not None
    ]
    released = _as_date(book.release_date)
    return _Raw(
        title=book.title,
        subtitle=book.subtitle,
        authors=[a.name for a in book.authors] or list(lib.authors),
        narrators=[n.name for n in book.narrators] or list(lib.narrators),
        # New releases lack series in Audnex for a week or two; Libation may know it.
        series=series or [(s.name, s.position) for s in lib.series],
        summary=book.summary or book.description or lib.summary,
        publisher=book.publisher_name or lib.publisher,
        release_date=released,
        year=str(released.year) if released else (str(book.copyright or "") or lib.year),
        language=book.language or lib.language,
        genres=[g.name for g in book.genres if g.type != "tag"],
        tags=[g.name for g in book.genres if g.type == "tag"],
        image=book.image,
        is_adult=book.is_adult,
        abridged=(book.format_type or "").casefold() == "abridged",
        literature_type=book.literature_type,
        runtime_minutes=book.runtime_length_min or lib.runtime_minutes,
    )


def _from_libation(lib: BookInfo) -> _Raw:
    return _Raw(
        title=lib.title,
        subtitle=lib.subtitle or None,
        authors=list(lib.authors),
        narrators=list(lib.narrators),
        series=[(s.name, s.position) for s in lib.series],
        summary=lib.summary,
        publisher=lib.publisher,
        year=lib.year,
        language=lib.language,
        runtime_minutes=lib.runtime_minutes,
    )


def _fill_from_tags(raw: _Raw, audio: AudioInfo) -> None:
    """Last resort: Libation writes title, author (artist) and narrator (composer) into the file."""
    tags = audio.tags
    if not raw.title:
        raw.title = tags.get("Album") or tags.get("Title") or ""
    if not raw.authors:
        raw.authors = _names(tags.get("Album_Performer") or tags.get("Performer"))
    if not raw.narrators:
        raw.narrators = _names(tags.get("Composer"))


# --------------------------------------------------------------------------- cleaning


def _clean(asin: str, raw: _Raw, audio: AudioInfo, rules: NamingRules) -> BookFacts:
    # No source names a series: "Series, Book 3" as the subtitle, then the title, may.
    guess = None
    if not raw.series:
        guess = series_from_subtitle(raw.subtitle) or series_from_title(raw.title)
    primary_name, primary_position = raw.series[0] if raw.series else guess or (None, None)
    parts = normalize_title_subtitle(raw.title, raw.subtitle, primary_name, primary_position, rules)
    title = clean_title(parts.title, rules, for_folder=False)
    series, guessed = _series(raw, guess, parts.title, rules)
    subtitle = clean_subtitle(
        parts.subtitle, rules, series=series[0].name if series else None, title=title
    )
    performers = _names(audio.tags.get("Album_Performer")) + _names(audio.tags.get("Performer"))
    # Someone the tags credit as illustrator, editor, translator... is not an author, even
    # where Audnex lists them plainly; an author who also narrates stays an author.
    credited = credited_people([*raw.authors, *performers], rules)
    translators = [person for person, role in credited.items() if "translat" in role]
    not_authors = {p.casefold() for p, role in credited.items() if "narrat" not in role}
    authors = [
        a for a in filter_author_roles(raw.authors, rules) if a.casefold() not in not_authors
    ]
    return BookFacts(
        asin=asin,
        source="libation",
        raw_title=raw.title,
        title=title,
        subtitle=subtitle or None,
        swapped=parts.swapped,
        authors=_romanized(authors, rules),
        narrators=_romanized(filter_author_roles(raw.narrators, rules), rules),
        translators=_romanized(translators, rules),
        series=series,
        series_guessed=guessed,
        summary_html=raw.summary,
        publisher=raw.publisher,
        release_date=raw.release_date,
        year=raw.year or None,
        language=_language(raw.language),
        genres=raw.genres,
        genre_tags=raw.tags,
        image_url=raw.image,
        is_adult=raw.is_adult,
        abridged=raw.abridged,
        literature_type=raw.literature_type,
        runtime_minutes=raw.runtime_minutes,
    )


def _series(
    raw: _Raw, guess: tuple[str, str] | None, title: str, rules: NamingRules
) -> tuple[list[SeriesEntry], bool]:
    """Cleaned series, primary first, without duplicates ("X" and "X Series" are one)."""
    entries: list[SeriesEntry] = []
    for index, (name, position) in enumerate(raw.series):
        cleaned = clean_series(name, rules, title=title)
        number = position or (volume_from_title(raw.title) if index == 0 else None)
        if cleaned and cleaned.casefold() not in {e.name.casefold() for e in entries}:
            entries.append(SeriesEntry(name=cleaned, number=(number or "").strip()))
    if entries:
        return entries, False
    if guess is None:
        return [], False
    return [SeriesEntry(name=clean_series(guess[0], rules, title=title), number=guess[1])], True


def _romanized(names: list[str], rules: NamingRules) -> list[str]:
    out: list[str] = []
    for name in names:
        latin = romanize(name, rules)
        if latin and latin.casefold() not in {o.casefold() for o in out}:
            out.append(latin)
    return out


def _attach_chapters(facts: BookFacts, found: Found | None, audio: AudioInfo) -> None:
    """Audnex's chapter list (Audible's own titles) when it has one, else the files' chapters."""
    listed = found.chapters.chapters if found and found.chapters else []
    facts.listed_chapters = len(listed) if listed else None
    if listed:
        facts.chapters = [
            ChapterMark(start_s=c.start_offset_ms / 1000, title=c.title.strip()) for c in listed
        ]
        facts.chapters_source = "audnex"
    elif audio.chapters:
        facts.chapters = list(audio.chapters)
        facts.chapters_source = "mediainfo" if audio.chapters_source == "menu" else "files"


# --------------------------------------------------------------------------- helpers


def _names(text: str | None) -> list[str]:
    if not text:
        return []
    return [n for n in (part.strip() for part in _NAME_SPLIT.split(text)) if n]


def _language(value: str | None) -> str | None:
    # MAM's name when it has one ("mandarin_chinese" -> "Chinese"), else plain words.
    return languages.readable(value)


def _as_date(value: datetime | date | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value
