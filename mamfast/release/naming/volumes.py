"""Volume numbers: a series position as MAM's `vol_NN`, or read from a title."""

from __future__ import annotations

import re

from mamfast.library.names import NUMBER

_WS = re.compile(r"\s+")
_VOLUME_ALIASES: dict[str, str | None] = {
    "prequel": "0",
    "prologue": "0",
    "prelude": "0",
    "origin": "0",
    "origins": "0",
    "introduction": "0",
    "omnibus": None,
}
_VOLUME_IN_TITLE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bVol(?:ume)?\.?\s*(\d+)\s*[,:]?\s*Part\s*(\d+)\b", re.I), "{0}p{1}"),
    (re.compile(r"\b(?:Books?|Vol(?:ume)?s?)\.?\s*(\d+)\s*[-–]\s*(\d+)\b", re.I), "{0}-{1}"),
    (re.compile(rf"\bVol(?:ume)?\.?\s*({NUMBER})\b", re.I), "{0}"),
    (re.compile(rf"\bBook\s+({NUMBER})\b", re.I), "{0}"),
    (re.compile(r"\s(\d{1,3}(?:\.\d+)?)$"), "{0}"),  # "Series Name 3"
)


def format_volume(position: str | None) -> str | None:
    """`vol_NN` from a series position: 3 -> vol_03, 1.5 -> vol_01.5, 1-3 -> vol_01-03,
    1p1 / "1 part 1" / 1_01 -> vol_01p1, prequel -> vol_00; None when not a volume."""
    if position is None:
        return None
    text = _WS.sub(" ", str(position)).strip().casefold().replace("–", "-").replace("—", "-")
    text = re.sub(r"^(?:#|no\.?\s*|book\s*|vol(?:ume)?\.?\s*)", "", text).strip()
    if not text:
        return None
    if text in _VOLUME_ALIASES or text.startswith("omnibus"):
        alias = _VOLUME_ALIASES.get(text)
        return f"vol_{_pad(alias)}" if alias is not None else None
    if match := re.fullmatch(rf"({NUMBER})\s*-\s*({NUMBER})", text):
        return f"vol_{_pad(match[1])}-{_pad(match[2])}"
    if match := re.fullmatch(r"(\d+)\s*(?:p|pt\.?|part|_|,\s*part)\s*(\d+)", text):
        return f"vol_{_pad(match[1])}p{int(match[2])}"
    if re.fullmatch(NUMBER, text):
        return f"vol_{_pad(text)}"
    return None


def _pad(number: str) -> str:
    whole, _, fraction = number.partition(".")
    fraction = fraction.rstrip("0")
    padded = f"{int(whole):02d}"
    return f"{padded}.{fraction}" if fraction else padded


def volume_from_title(title: str) -> str | None:
    """A series position read from a title ("Vol. 3 Part 1" -> "3p1", "Books 1-3" -> "1-3")."""
    for pattern, template in _VOLUME_IN_TITLE:
        if match := pattern.search(title):
            return template.format(*match.groups())
    return None
