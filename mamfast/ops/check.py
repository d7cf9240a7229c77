"""`mamfast check`: likely duplicates and cleaning results worth a second look.

Read only: it walks the library as a scan does (the scan cache is read, not written)
and applies the naming rules; it needs no Redis and writes nothing.

* **Duplicates.** One ASIN claimed by several folders (discovery holds such books back
  until one remains), and different ASINs for what reads as one book: the same cleaned
  title, first author and series position (an Audible US and UK edition, or the same
  book downloaded twice). Two torrents for one book is what MAM's moderators reject.
* **Suspicious cleaning.** The cleaning rules remove format, genre and publisher cruft
  from titles, subtitles and series names. A rule that removed a lot, or something
  that looks like information, may be one that matches too widely: more than
  `max_words` words, a bracket holding digits ("(2nd Edition)", "[Part 2]"; a bare
  "(Book 3)" is the book-number rule doing its job), or a whole subtitle that no
  "generic subtitle" rule names and that does not repeat the series or the title.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Literal

from pydantic import BaseModel, Field

from mamfast.config import Settings
from mamfast.library.book import Candidate
from mamfast.library.discovery import discover
from mamfast.release.naming.clean import clean_series, clean_subtitle, clean_title
from mamfast.release.naming.rules import NamingRules

MAX_WORDS = 4  # removed words above which a cleaning result is listed

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_BRACKET_WITH_DIGIT = re.compile(r"[(\[{][^)\]}]*\d[^)\]}]*[)\]}]")
# "(Book 3)", "[Vol. 2]": removing these is the book-number rule doing its job.
_BOOK_NUMBER_ONLY = re.compile(r"(?:book|vol\.?|volume)\s*\d+(?:\.\d+)?", re.IGNORECASE)


class Duplicate(BaseModel):
    kind: Literal["same-asin", "same-book"]
    asins: list[str]
    title: str
    author: str = ""
    paths: list[str]
    reason: str


class Suspicious(BaseModel):
    asin: str
    path: str
    field: Literal["title", "subtitle", "series"]
    original: str
    cleaned: str
    removed: str  # the words the rules took out
    reasons: list[str]


class CheckReport(BaseModel):
    duplicates: list[Duplicate] = Field(default_factory=list)
    suspicious: list[Suspicious] = Field(default_factory=list)
    books: int = 0

    @property
    def clean(self) -> bool:
        return not self.duplicates and not self.suspicious


def check_library(
    settings: Settings, rules: NamingRules, *, max_words: int = MAX_WORDS
) -> CheckReport:
    """The report for the whole library. Blocking (walks the library)."""
    found = discover(settings, save_cache=False)
    report = CheckReport(books=len(found.releases))
    for dup in found.duplicates:
        report.duplicates.append(
            Duplicate(
                kind="same-asin",
                asins=[dup.asin],
                title="",
                paths=[str(p) for p in dup.paths],
                reason=dup.reason,
            )
        )
    report.duplicates.extend(same_book(found.releases, rules))
    for candidate in found.releases:
        report.suspicious.extend(suspicious_cleaning(candidate, rules, max_words=max_words))
    return report


def _key_text(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


def same_book(candidates: list[Candidate], rules: NamingRules) -> list[Duplicate]:
    """Different ASINs whose cleaned title, first author and series position agree."""
    groups: dict[tuple[str, str, str], list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        book = candidate.book
        title = _key_text(clean_title(book.title, rules, for_folder=True))
        if not title:
            continue
        author = _key_text(book.authors[0]) if book.authors else ""
        position = (book.series[0].position or "") if book.series else ""
        groups[(title, author, position)].append(candidate)
    duplicates = []
    for group in groups.values():
        asins = sorted({c.asin for c in group})
        if len(asins) < 2:
            continue
        first = group[0].book
        duplicates.append(
            Duplicate(
                kind="same-book",
                asins=asins,
                title=first.title,
                author=first.authors[0] if first.authors else "",
                paths=sorted(str(c.source_dir) for c in group),
                reason="different ASINs, same title, author and series position: two "
                "editions, or one book downloaded twice; upload one",
            )
        )
    return duplicates


def removed_words(original: str, cleaned: str) -> list[str]:
    """Words of `original` missing from `cleaned`, in order (case-blind, counted)."""
    left = Counter(w.casefold() for w in _WORD.findall(cleaned))
    removed = []
    for word in _WORD.findall(original):
        if left[word.casefold()] > 0:
            left[word.casefold()] -= 1
        else:
            removed.append(word)
    return removed


def _reasons(original: str, cleaned: str, max_words: int) -> tuple[list[str], list[str]]:
    removed = removed_words(original, cleaned)
    reasons = []
    if len(removed) > max_words:
        reasons.append(f"{len(removed)} words removed (more than {max_words})")
    lost = [
        b
        for b in _BRACKET_WITH_DIGIT.findall(original)
        if b not in cleaned and not _BOOK_NUMBER_ONLY.fullmatch(b[1:-1].strip())
    ]
    if lost:
        reasons.append(f"removed brackets holding digits: {', '.join(lost)}")
    return removed, reasons


def suspicious_cleaning(
    candidate: Candidate, rules: NamingRules, *, max_words: int = MAX_WORDS
) -> list[Suspicious]:
    """What the cleaning rules did to this book that a person should look at."""
    book, found = candidate.book, []

    def add(field: Literal["title", "subtitle", "series"], original: str, cleaned: str) -> None:
        removed, reasons = _reasons(original, cleaned, max_words)
        if field == "subtitle" and original.strip() and not cleaned.strip():
            reasons.append("the whole subtitle was removed")
        if reasons:
            found.append(
                Suspicious(
                    asin=candidate.asin,
                    path=str(candidate.source_dir),
                    field=field,
                    original=original,
                    cleaned=cleaned,
                    removed=" ".join(removed),
                    reasons=reasons,
                )
            )

    if book.title:
        add("title", book.title, clean_title(book.title, rules, for_folder=False))
    series = book.series[0].name if book.series else None
    if series:
        add("series", series, clean_series(series, rules, title=book.title))
    if book.subtitle and not _generic_subtitle(book.subtitle, rules, series, book.title):
        cleaned = clean_subtitle(book.subtitle, rules, series=series, title=book.title)
        add("subtitle", book.subtitle, cleaned or "")
    return found


def _generic_subtitle(subtitle: str, rules: NamingRules, series: str | None, title: str) -> bool:
    """Removed on purpose: a rule names it as generic, or it repeats the series or title
    ("Series, Book 3", "Book 3 of the Series", "Title, Book 3")."""
    if any(p.search(subtitle) for p in rules.compiled.subtitle_remove):
        return True
    words = set(_key_text(subtitle).split())
    for name in (series, title):
        named = set(_key_text(name or "").split())
        if named and named <= words:
            return True
    return False
