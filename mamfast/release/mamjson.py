"""MAM's fast-fill JSON: the upload form's "JSON fill" box, one key per form field.

A key without a value is left out of the file (docs/fastfill.md says why, key
by key): MAM's guidance is to omit what you do not fill, and upload helpers
treat an empty value as a value (`"flags": []` unticks every flag, `"series": []`
clears the series rows). The model keeps empty defaults so the review checklist
can ask "is it there?"; `to_dict` decides what is written.

Shapes: `series` is a list of {name, number} (what MAM's Upload Helper reads),
`flags` an object of booleans keyed by MAM's flag names (the helper reads
`!!flags[name]`, so a list of names would tick nothing), `isbn` carries the
ASIN as "ASIN:<asin>", `mediaInfo` is MediaInfo's JSON as a string.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mamfast.clients.mediainfo import AudioInfo, format_duration
from mamfast.release.bookdata import BookFacts
from mamfast.release.categories import CategoryChoice
from mamfast.release.description import long_date
from mamfast.release.languages import mam_language

AUDIOBOOK_MEDIA_TYPE = 1
TAG_SEPARATOR = " | "
_LGBT = re.compile(r"\blgbt|\bgay\b|\blesbian\b|\bqueer\b|\btrans(?:gender)?\b", re.IGNORECASE)
LGBT_CATEGORY = 25

Flag = Literal["cLang", "vio", "sSex", "eSex", "abridged", "lgbt"]


class FastFillSeries(BaseModel):
    """One series row. `number` is always written, "" when Audible gives no position:
    the Upload Helper types a missing number into the form as "undefined"."""

    model_config = ConfigDict(extra="forbid")

    name: str
    number: str = ""


class FastFill(BaseModel):
    """The JSON MAM's upload form fills itself from; key order is the form's order."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str = ""
    subtitle: str = ""
    authors: list[str] = Field(default_factory=list)
    narrators: list[str] = Field(default_factory=list)
    series: list[FastFillSeries] = Field(default_factory=list)
    description: str = ""
    thumbnail: str = ""
    language: str = ""
    category: str = ""
    categories: list[int] = Field(default_factory=list)
    main_cat: Literal[1, 2]
    media_type: int = Field(alias="mediaType")
    tags: str = ""
    media_info: str = Field(default="", alias="mediaInfo")
    isbn: str = ""
    flags: dict[Flag, bool] = Field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """What goes into the file: every key that has a value, none that does not."""
        data = self.model_dump(by_alias=True, mode="json")
        data["flags"] = {name: True for name, on in self.flags.items() if on}
        return {key: value for key, value in data.items() if not _empty(value)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _empty(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value in ([], {})


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
        language=mam_language(facts.language) or "",
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
    labels = genre_labels(facts.genre_tags or facts.genres)
    if labels:
        parts.append(", ".join(labels))  # MAM's tag helper reads the last part as labels
    return TAG_SEPARATOR.join(p.strip() for p in parts if p.strip())


def genre_labels(genres: list[str]) -> list[str]:
    """The genres as comma-separated labels: the Upload Helper splits the last tag part
    on ", ", so a genre with a comma of its own ("Mystery, Thriller & Suspense")
    becomes its parts; a "|" would start a new tag part, so it becomes "/"."""
    labels: list[str] = []
    for genre in genres:
        for part in genre.replace("|", "/").split(","):
            label = " ".join(part.split())
            if label and label.casefold() not in {known.casefold() for known in labels}:
                labels.append(label)
    return labels


def flags(facts: BookFacts, choice: CategoryChoice) -> dict[Flag, bool]:
    """Content flags we can justify from the data; the reviewer sets the rest.

    Audnex's isAdult is a weak signal, so it sets "some sexual content"
    (sSex), never "explicit" (eSex); the review checklist says so. Crude
    language (cLang) and violence (vio) are never in Audible's data.
    """
    found: dict[Flag, bool] = {}
    if facts.is_adult:
        found["sSex"] = True
    if facts.abridged:
        found["abridged"] = True
    names = [*facts.genres, *facts.genre_tags]
    if LGBT_CATEGORY in choice.categories or any(_LGBT.search(n) for n in names):
        found["lgbt"] = True
    return found
