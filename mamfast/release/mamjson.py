"""MAM's fast-fill JSON: the upload form's "JSON fill" box, one key per form field.

Every key is always written (empty when unknown) so a reviewer sees at a
glance what is missing; MAM's form leaves a field alone when its value is
empty. Keys and shapes follow MAM's fast-fill schema as upstream documents it:
`series` is a list of {name, number}, `flags` a list of flag names, `isbn`
carries the ASIN as "ASIN:<asin>", `mediaInfo` is MediaInfo's JSON as a string.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mamfast.clients.mediainfo import AudioInfo, format_duration
from mamfast.release.bookdata import BookFacts
from mamfast.release.categories import CategoryChoice
from mamfast.release.description import long_date

AUDIOBOOK_MEDIA_TYPE = 1
TAG_SEPARATOR = " | "
_LGBT = re.compile(r"\blgbt|\bgay\b|\blesbian\b|\bqueer\b|\btrans(?:gender)?\b", re.IGNORECASE)
LGBT_CATEGORY = 25

Flag = Literal["cLang", "vio", "sSex", "eSex", "abridged", "lgbt"]


class FastFillSeries(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    number: str


class FastFill(BaseModel):
    """The JSON MAM's upload form fills itself from; key order is the form's order."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str
    subtitle: str
    authors: list[str]
    narrators: list[str]
    series: list[FastFillSeries]
    description: str
    thumbnail: str
    language: str
    category: str
    categories: list[int]
    main_cat: Literal[1, 2]
    media_type: int = Field(alias="mediaType")
    tags: str
    media_info: str = Field(alias="mediaInfo")
    isbn: str
    flags: list[Flag]

    def to_json(self) -> str:
        data = self.model_dump(by_alias=True, mode="json")
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def build(
    facts: BookFacts,
    audio: AudioInfo,
    choice: CategoryChoice,
    *,
    description: str,
    media_info: str,
) -> FastFill:
    return FastFill(
        title=facts.title,
        subtitle=facts.subtitle or "",
        authors=facts.authors,
        narrators=facts.narrators,
        series=[FastFillSeries(name=s.name, number=s.number) for s in facts.series],
        description=description,
        thumbnail=facts.image_url or "",
        language=facts.language or "",
        category=choice.category,
        categories=choice.categories,
        main_cat=choice.main_cat,
        media_type=AUDIOBOOK_MEDIA_TYPE,
        tags=tags_line(facts, audio),
        media_info=media_info,
        isbn=f"ASIN:{facts.asin}",
        flags=flags(facts, choice),
    )


def tags_line(facts: BookFacts, audio: AudioInfo) -> str:
    """`Length: 8h 20m | Release date: January 14, 2025 | Format: M4B, AAC LC (CBR ~64 kb/s)
    | Chapterized | Fantasy, Epic`, with no trailing separator (MAM's helper flags one)."""
    parts = [f"Length: {format_duration(audio.duration_s)}"]
    if facts.release_date:
        parts.append(f"Release date: {long_date(facts.release_date)}")
    elif facts.year:
        parts.append(f"Release year: {facts.year}")
    parts.append(f"Format: {audio.container}, {audio.codec_label}")
    if audio.chapterized:
        parts.append("Chapterized")
    if facts.abridged:
        parts.append("Abridged")
    genres = [g.replace("|", "/").replace(",", " ") for g in (facts.genre_tags or facts.genres)]
    if genres:
        parts.append(", ".join(genres))  # MAM's tag helper reads the last part as labels
    return TAG_SEPARATOR.join(p.strip() for p in parts if p.strip())


def flags(facts: BookFacts, choice: CategoryChoice) -> list[Flag]:
    """Content flags we can justify from the data; the reviewer sets the rest.

    Audnex's isAdult is a weak signal, so it sets "some sexual content"
    (sSex), never "explicit" (eSex); the review checklist says so.
    """
    found: list[Flag] = []
    if facts.is_adult:
        found.append("sSex")
    if facts.abridged:
        found.append("abridged")
    names = [*facts.genres, *facts.genre_tags]
    if LGBT_CATEGORY in choice.categories or any(_LGBT.search(n) for n in names):
        found.append("lgbt")
    return found
