"""What a Libation folder name, or a book title, says about the book.

Libation names a book folder `Title vol_NN (Year) (Author) {ASIN.X} [Tag]`;
people write `[ASIN.X]` or `[X]` too. When a folder has no metadata file, or
its metadata leaves a gap, the reader falls back to what the name says. A title
such as "Series, Vol. 5" names its series when nothing else does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mamfast.asin import NAME_TOKEN, token_value

# A number as titles write a volume: 3, 1.5.
NUMBER = r"\d+(?:\.\d+)?"
YEAR = re.compile(r"(?:1[89]|20)\d\d")
YEAR_IN_PARENS = re.compile(r"\((?:1[89]|20)\d\d\)")

_WS = re.compile(r"\s+")
_TRAILING_PARENS = re.compile(r"\s*\(([^()]*)\)\s*$")
_TRAILING_VOLUME = re.compile(r"(?:\s*-\s*|\s+)vol_(\S+)\s*$", re.IGNORECASE)
_SERIES_IN_TITLE = re.compile(
    rf"^(?P<series>.+?)\s*[,:]?\s+(?:Vol(?:ume)?\.?|Book|Part)\s*(?P<num>{NUMBER})"
    r"(?:\s*\([^)]*\))?(?:\s*[:\-–—].+)?$",
    re.IGNORECASE,
)
# "My Hero 5", "Overlord Light Novel 14": a guess, so at least two words before the number
# ("Fahrenheit 451", "Overlord 14" are not series) and never four digits (a year).
_TRAILING_NUMBER = re.compile(r"^(?P<series>\S+(?:\s+\S+)+)\s+(?P<num>\d{1,3}(?:\.\d+)?)$")
# A subtitle names its series only in the plain form "Series, Book 3".
_SERIES_IN_SUBTITLE = re.compile(
    rf"^(?P<series>.+?),\s*(?:Book|Vol(?:ume)?\.?|Part)\s*(?P<num>{NUMBER})$", re.IGNORECASE
)
_VOLUME_IN_SERIES = re.compile(r"\b(?:vol(?:ume)?|book|part)\b\.?\s*\d", re.IGNORECASE)
_NOT_A_NAME = {"the", "a", "an"}


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
    tokens = list(NAME_TOKEN.finditer(name))
    token = tokens[-1] if tokens else None  # the last: a title may hold brackets of its own
    head = name
    if token is not None:
        info.asin = token_value(token)
        head = name[: token.start()]
    groups: list[str] = []
    while len(groups) < 2 and (match := _TRAILING_PARENS.search(head)):
        groups.insert(0, match.group(1).strip())
        head = head[: match.start()]
    # "(Year) (Author)", or "(Year)"; a lone "(...)" is part of the title ("(Light Novel)").
    if len(groups) == 2 and YEAR.fullmatch(groups[0]):
        info.year, info.author = groups
    elif groups and YEAR.fullmatch(groups[-1]):
        info.year = groups[-1]
        head += "".join(f" ({g})" for g in groups[:-1])
    else:
        head += "".join(f" ({g})" for g in groups)
    if match := _TRAILING_VOLUME.search(head):
        info.volume = match.group(1)
        head = head[: match.start()]
    info.title = head.strip(" -")
    return info


def series_from_title(title: str) -> tuple[str, str] | None:
    """("Series", "5") from "Series, Vol. 5" / "Series: Book 5" / "Series Part 5" / "Series 5".

    Never a bare article ("The Book 5" is "The Book" #5, not "The" #5) and never a
    name that still holds a volume ("X Vol. 3 Part 1" is not "X Vol. 3" #1).
    """
    text = _WS.sub(" ", title).strip()
    for pattern in (_SERIES_IN_TITLE, _TRAILING_NUMBER):
        match = pattern.match(text)
        if match and _names_a_series(series := match["series"].strip(" ,:")):
            return series, match["num"]
    return None


def series_from_subtitle(subtitle: str | None) -> tuple[str, str] | None:
    """("Epic Fantasy Collection", "3") from the subtitle "Epic Fantasy Collection, Book 3"."""
    match = _SERIES_IN_SUBTITLE.match(_WS.sub(" ", subtitle or "").strip())
    if match and _names_a_series(series := match["series"].strip(" ,:")):
        return series, match["num"]
    return None


def _names_a_series(name: str) -> bool:
    return (
        len(name) >= 2 and name.casefold() not in _NOT_A_NAME and not _VOLUME_IN_SERIES.search(name)
    )
