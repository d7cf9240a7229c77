"""Cleaning a book's title, subtitle and series name for MAM.

Strips format/genre/publisher cruft and "Book N", series suffixes ("...
Series", "[reading order]"), generic or redundant subtitles, and repairs
Audible's title/subtitle swaps using the series as ground truth. Pure
functions over the caller's `NamingRules`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from mamfast.library.names import NUMBER
from mamfast.release.naming.rules import NamingRules, rule_regex

# "Book 3" / "Book XII" never belongs in a name: the volume is vol_NN (or kept in JSON as Vol.).
_BOOK_NUMBER = re.compile(r"(?i:\bBook)\s*[:\s]\s*(?:\d+(?:\.\d+)?|[IVXLCDM]+)\b")
_DUPLICATE_VOL = re.compile(r"\b0*(\d+)\s+(vol_0*\1)\b")
_WS = re.compile(r"\s+")
_DOUBLE_DASH = re.compile(r"\s*-\s*-\s*")
_DOUBLE_COMMA = re.compile(r"\s*,\s*,\s*")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|\{\s*\}")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,:;])")
_EDGE_JUNK = re.compile(r"^[\s,:;]*(?:[-–—]\s+)?|(?:\s+[-–—])?[\s,:;]*$")
# Stands in for a preserve_exact entry while the rest of a name is cleaned (private use area).
_SHIELD = "\ue000"
_LEADING_ARTICLE = re.compile(r"^(?:the|an?)\s+", re.IGNORECASE)
_ARTICLE = re.compile(r"the|an?", re.IGNORECASE)
# Subtitles that describe a genre, not a book ("A LitRPG Adventure"), beyond naming.json's list.
_READING_LINES = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^an?\s+.*\b(?:lit\s*rpg|gamelit|isekai|dungeon\s+core|cultivation|progression)\b",
        r"^an?\s+.*\b(?:novel|story|tale|adventure|fantasy|thriller|romance|epic|harem)$",
        r".*\((?:an?\s+)?.*\b(?:lit\s*rpg|gamelit|progression)\b",
        r"^(?:light\s+)?novel(?:\s*\(.*\))?$",
        r"^(?:an?\s+)?space\s+opera$",
    )
)


def tidy(text: str) -> str:
    """Remove what cleaning leaves behind: doubled dashes/commas, empty (), dangling `,:;-`."""
    result = _WS.sub(" ", text)
    while True:
        before = result
        result = _DOUBLE_DASH.sub(" - ", result)
        result = _DOUBLE_COMMA.sub(", ", result)
        result = _EMPTY_BRACKETS.sub("", result)
        result = _SPACE_BEFORE_PUNCT.sub(r"\1", result)
        result = _EDGE_JUNK.sub("", result)
        result = _WS.sub(" ", result).strip()
        if result == before:
            return result


def is_preserved(name: str, rules: NamingRules) -> bool:
    """The whole name is a `preserve_exact` entry (a longer name is cleaned around it)."""
    return _preserved_entry(name, rules) == name.strip()


def _preserved_entry(name: str, rules: NamingRules) -> str | None:
    """The longest entry the name is, or starts with followed by a non-letter, as written."""
    sensitive = rules.preserve_exact.case_sensitive
    text = name.strip()
    probe = text if sensitive else text.casefold()
    for entry in sorted(rules.preserve_exact.titles, key=len, reverse=True):
        key = entry if sensitive else entry.casefold()
        if probe == key or (key and probe.startswith(key) and not probe[len(key)].isalnum()):
            return text[: len(key)]
    return None


def _shielded(name: str, rules: NamingRules, clean: Callable[[str], str]) -> str:
    """`clean` applied to what follows a preserved entry, the entry itself left as written.

    "Is It Wrong to ... Dungeon? (light novel)" loses "(light novel)" while "86--EIGHTY-SIX"
    keeps its dashes: the entry is swapped for a placeholder no rule can match.
    """
    entry = _preserved_entry(name, rules)
    if entry is None or _SHIELD in name:  # a name holding the placeholder is cleaned as a whole
        return clean(name)
    if entry == name.strip():
        return entry
    cleaned = clean(_SHIELD + name.strip()[len(entry) :])
    return cleaned.replace(_SHIELD, entry) if _SHIELD in cleaned else entry


def clean_title(title: str, rules: NamingRules, *, for_folder: bool) -> str:
    """Strip format/genre/publisher cruft and "Book N"; for folders also "Vol. N".

    `for_folder=False` keeps "Vol. N" / "Volume N" (MAM's JSON title keeps them).
    Cleaning never empties a title: if nothing would be left, the tidied input is kept.
    """
    original = _WS.sub(" ", title).strip()
    if not original:
        return original
    return _shielded(original, rules, lambda text: _clean_title(text, rules, for_folder=for_folder))


def _clean_title(original: str, rules: NamingRules, *, for_folder: bool) -> str:
    compiled = rules.compiled
    result = _BOOK_NUMBER.sub("", original)
    if for_folder:
        for pattern in compiled.json_volumes:
            result = pattern.sub("", result)
    # Genre lines first, so "Light Novel" does not eat the end of "A Sci-Fi Light Novel";
    # again after, for a genre line that closes the title only once "(Unabridged)" is gone.
    for patterns in (compiled.closing, compiled.anywhere, compiled.closing):
        for pattern in patterns:
            result = pattern.sub("", result)
    result = _DUPLICATE_VOL.sub(r"\2", _WS.sub(" ", result))
    return tidy(result) or tidy(original)


def clean_series(name: str, rules: NamingRules, *, title: str | None = None) -> str:
    """A series name without cruft or suffixes ("... Series", "... Trilogy", "[reading order]").

    With `title`, "The" is inherited when the title reads "The <series>..."
    ("Great Cleric" + "The Great Cleric: Volume 1" -> "The Great Cleric").
    """
    original = _WS.sub(" ", name).strip()
    if not original or not rules.series_name_cleaning.enabled:
        return original
    result = _shielded(original, rules, lambda text: _strip_series_suffixes(text, rules))
    if title and rules.series_name_cleaning.inherit_the_prefix.enabled:
        result = _inherit_the(result, title)
    return result


def _strip_series_suffixes(original: str, rules: NamingRules) -> str:
    result = _clean_title(original, rules, for_folder=True)
    changed = True
    while changed:  # "X Light Novel Series" loses both suffixes
        changed = False
        for pattern in rules.compiled.series_suffixes:
            stripped = tidy(pattern.sub("", result))
            # "The Book" keeps "Book": a suffix never leaves a bare article behind.
            if stripped and stripped != result and not _ARTICLE.fullmatch(stripped):
                result, changed = stripped, True
    return result


def _inherit_the(series: str, title: str) -> str:
    lowered = series.casefold()
    if lowered.startswith("the "):
        return series
    if title.strip().casefold().startswith(f"the {lowered}"):
        return f"The {series}"
    return series


def clean_subtitle(
    subtitle: str | None, rules: NamingRules, *, series: str | None, title: str
) -> str | None:
    """The subtitle worth keeping; "" when it is dropped, None when there was none.

    Dropped: generic ones ("Light Novel", "A Progression Fantasy"), ones that
    repeat the series ("Series, Book 11") and the redundancy rules' matches.
    Kept as-is: `keep_patterns` (arc names like "Aincrad"), and the subtitle of
    a `preserve_exact` title.
    """
    if subtitle is None:
        return None
    text = _WS.sub(" ", subtitle).strip()
    if not text:
        return ""
    if is_preserved(title, rules) or is_preserved(text, rules):
        return text
    compiled = rules.compiled
    if any(p.search(text) for p in compiled.subtitle_keep):
        return tidy(text)
    if any(p.search(text) for p in compiled.subtitle_remove):
        return ""
    if series and rules.subtitle_patterns.remove_if_matches_series and _repeats(text, series):
        return ""
    result = _apply_redundancy(text, rules, series=series, title=title)
    return tidy(result) if result else ""


def _bare(text: str) -> str:
    return _LEADING_ARTICLE.sub("", text.strip().casefold())


def _repeats(subtitle: str, series: str) -> bool:
    """The subtitle is the series name, or a piece of it ("Subtitle" of "Main - Subtitle")."""
    sub, name = _bare(subtitle), _bare(series)
    return bool(sub) and (sub == name or sub in name)


def _apply_redundancy(text: str, rules: NamingRules, *, series: str | None, title: str) -> str:
    redundancy = rules.subtitle_redundancy_rules
    if not redundancy.enabled:
        return text
    result = text
    for rule in redundancy.rules:
        template = rule.pattern_template
        if ("{{series}}" in template and not series) or ("{{title}}" in template and not title):
            continue
        source = template.replace("{{series}}", re.escape(series or "")).replace(
            "{{title}}", re.escape(title)
        )
        pattern = rule_regex(source, f"subtitle_redundancy_rules.{rule.id}")
        if not pattern.search(result):
            continue
        if rule.action == "drop_subtitle":
            return ""
        result = tidy(pattern.sub("", result))
        if not result:
            return ""
    return result


# --------------------------------------------------------------------------- title/subtitle


class TitleParts(BaseModel):
    """Title and subtitle after the swap repair, and the arc name (None if there is none)."""

    title: str
    subtitle: str | None
    arc: str | None
    swapped: bool


def normalize_title_subtitle(
    title: str,
    subtitle: str | None,
    series_name: str | None,
    series_position: str | None,
    rules: NamingRules,
) -> TitleParts:
    """Repair Audible's title/subtitle swaps, using the series as ground truth.

    Audible is inconsistent: "Sword Art Online 7" / "Mother's Rosary" but
    "Alicization Exploding" / "Sword Art Online 16". The convention
    (MAMFAST_TITLE_CONVENTION) decides which way both are turned: `series`
    (the default, what the upstream tool's users upload) makes the one naming
    the series the title and the book's own name the subtitle; `book_title`
    makes the book's own name the title. The arc is whichever of the two is
    neither the series nor a genre line; with no series it is the subtitle.
    """
    head = _WS.sub(" ", title).strip()
    sub = _WS.sub(" ", subtitle).strip() if subtitle else None
    names = _series_names(series_name, rules)
    if not names:
        arc = sub if sub and not is_genre_line(sub, rules) else None
        return TitleParts(title=head, subtitle=sub or None, arc=arc, swapped=False)
    normalization = rules.title_subtitle_normalization
    swapped = False
    if normalization.enabled and sub:
        if normalization.convention == "series" and not _only_position(head, series_position):
            swap = _names_series(sub, names, series_position) and not _mentions(head, names)
        else:
            swap = _is_series_number(head, names, series_position) and not (
                _mentions(sub, names) or is_genre_line(sub, rules)
            )
        if swap:
            head, sub, swapped = sub, head, True
    arc = next(
        (t for t in (sub, head) if t and not _mentions(t, names) and not is_genre_line(t, rules)),
        None,
    )
    if normalization.convention == "series":
        # The subtitle is the book's own name; "Series, Book 3" beside "Series 3" says nothing.
        sub = arc if arc != head else None
    return TitleParts(title=head, subtitle=sub or None, arc=arc, swapped=swapped)


def _only_position(text: str, position: str | None) -> bool:
    """ "Book 7" alone: no convention keeps that as the title when a real name is beside it."""
    if not position:
        return False
    number = re.escape(position.strip())
    marker = r"(?:(?:vol(?:ume)?\.?|book|part|#)\s*)?"
    return re.fullmatch(rf"{marker}0*{number}", text, re.IGNORECASE) is not None


def _names_series(text: str, names: Sequence[str], position: str | None) -> bool:
    """The text is "Series 7" / "Series, Book 7" for this book, or mentions the series.

    "Lord of the Rings, Book 1" for "The Lord of the Rings" #1: a name that ends with
    this book's position counts even when it spells the series differently. Neither the
    bare series name ("A Jack Ryan Novel") nor the bare position ("Book 7") is "Series N".
    """
    if _bare(text) in {_bare(name) for name in names} or _only_position(text, position):
        return False
    return (
        _mentions(text, names)
        or _is_series_number(text, names, position)
        or _ends_with_position(text, position)
    )


def _ends_with_position(text: str, position: str | None) -> bool:
    if not position or not position.strip():
        return False
    number = re.escape(position.strip())
    marker = r"(?:vol(?:ume)?\.?|book|part|no\.?|#)\s*"
    return re.search(rf"[\s,:(]{marker}0*{number}\)?$", text, re.IGNORECASE) is not None


def _series_names(series_name: str | None, rules: NamingRules) -> list[str]:
    if not series_name or not series_name.strip():
        return []
    raw = _WS.sub(" ", series_name).strip()
    names = {raw.casefold(), clean_series(raw, rules).casefold()}
    return sorted((n for n in names if n), key=len, reverse=True)


def _mentions(text: str, names: Sequence[str]) -> bool:
    lowered = text.casefold()
    return any(name in lowered for name in names)


def _is_series_number(text: str, names: Sequence[str], position: str | None) -> bool:
    """ "Series 7", "Series, Vol. 7", "Series (Light Novel) Book 7", or just "Book 7"."""
    if _only_position(text, position):
        return True
    for name in names:
        pattern = (
            rf"^{re.escape(name)}(?:\s*\((?:light novel|manga)\))?\s*[,:]?\s*"
            rf"(?:(?:vol(?:ume)?\.?|book|part|no\.?|#)\s*)?{NUMBER}$"
        )
        if re.match(pattern, text, re.IGNORECASE):
            return True
    return False


def is_genre_line(text: str, rules: NamingRules) -> bool:
    """A line that describes a genre or format, not a book ("A LitRPG Adventure", "Light Novel").

    "A Demon's Pride: A LitRPG Adventure" is not one: every part around a colon must be.
    """
    if any(p.search(text) for p in rules.compiled.subtitle_keep):
        return False
    parts = [p for p in re.split(r":\s+", text) if p.strip()]
    return bool(parts) and all(_is_generic_part(part, rules) for part in parts)


def _is_generic_part(text: str, rules: NamingRules) -> bool:
    return any(p.search(text) for p in (*rules.compiled.subtitle_remove, *_READING_LINES))
