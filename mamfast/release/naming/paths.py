"""MAM folder and file names for a release, within the path budget.

Names look like this (the tag, MAMFAST_RIPPER_TAG, is on the folder only):

    series:     Series vol_NN (Year) (Author) {ASIN.X} [Tag]/
                    Series vol_NN (Year) (Author) {ASIN.X}.m4b
    standalone: Title (Year) (Author) {ASIN.X} [Tag]/Title (Year) (Author) {ASIN.X}.m4b

MAM's limit applies to the whole relative path `folder/file`. When it is
exceeded the builder drops components in the configured order (arc, author,
year), then shortens the series or title with `...`; the ASIN and `vol_NN`
are never dropped. Every component is sanitised so that it is a portable
file name on every platform MAM users seed from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict

from mamfast.asin import in_staged_name, staged_token
from mamfast.errors import InputError
from mamfast.library.selection import AUDIO_EXTENSIONS, natural_key
from mamfast.models import BookInfo
from mamfast.release.naming.authors import filter_author_roles
from mamfast.release.naming.clean import clean_series, clean_title, normalize_title_subtitle
from mamfast.release.naming.rules import NamingRules
from mamfast.release.naming.volumes import format_volume, volume_from_title
from mamfast.release.portable import check_portable

COVER_STEMS = ("cover", "folder", "front")
ELLIPSIS = "..."
MAX_NAME_BYTES = 255  # one path component on ext4/xfs/btrfs/zfs
MIN_HEAD_CHARS = 3  # a shortened series/title keeps at least this much before "..."
DROPPABLE = ("arc", "author", "year")

_WS = re.compile(r"\s+")
# Text direction overrides and isolates can make a name display as something else.
_BIDI_CONTROLS = dict.fromkeys(
    map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
# Windows device names: "CON", "nul.txt" and "COM1 " cannot be files there.
_RESERVED = re.compile(r"(?:CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)", re.I)
_SANITIZE_MAP = (
    ("/", "-"),
    ("\\", "-"),
    ("|", "-"),
    (":", " -"),
    ('"', "'"),
    ("<", ""),
    (">", ""),
    ("?", ""),
    ("*", ""),
)


def sanitize_component(text: str) -> str:
    """A name made safe on every platform MAM users seed from, usable on its own.

    `/ \\ |` -> `-`, `:` -> ` -`, `"` -> `'`, `< > ? *` removed, control and
    text-direction characters removed, whitespace collapsed, leading/trailing
    dots, dashes and spaces stripped (so `..`, `/` and NUL can never make a path), and a
    Windows device name (`CON`, `NUL.txt`, `COM1`, `AUX`...) given a `_` after its stem.
    """
    result = _clean_component(text)
    stem, dot, rest = result.partition(".")
    if _RESERVED.fullmatch(stem.strip()):
        result = f"{stem.rstrip()}_{dot}{rest}"  # Windows will not create CON, NUL.txt, COM1...
    return result


def _clean_component(text: str) -> str:
    """One piece of a longer name: a device name is harmless inside `Title (Year) {ASIN.X}`."""
    result = unicodedata.normalize("NFC", text).translate(_BIDI_CONTROLS)
    for char, replacement in _SANITIZE_MAP:
        result = result.replace(char, replacement)
    result = "".join(c if unicodedata.category(c) != "Cc" else " " for c in result)
    return _WS.sub(" ", result).strip(" .-–—")


# --------------------------------------------------------------------------- path builder


class NameParts(BaseModel):
    """The components of a base name, cleaned but not yet sanitised."""

    model_config = ConfigDict(frozen=True)

    asin: str
    head: str = ""  # the series (series form) or the title (standalone form)
    volume: str | None = None  # "vol_03"
    arc: str | None = None
    year: str | None = None
    author: str | None = None


class MamPath(BaseModel):
    """Folder name, target name per source file, and what the budget cost."""

    folder: str
    base: str
    files: dict[str, str]  # source file name -> name in the folder
    longest: int  # characters in the longest `folder/file`
    limit: int
    truncated: bool  # the series/title was shortened with "..."
    dropped: list[str]  # components left out to fit: "arc", "author", "year", "head"

    @property
    def relative_paths(self) -> list[str]:
        return [f"{self.folder}/{name}" for name in self.files.values()]


class NameTooLongError(InputError):
    """Even the ASIN and vol_NN alone do not fit the path limit."""


def name_parts(asin: str, book: BookInfo, rules: NamingRules) -> NameParts:
    """The series form when both series and volume are known, else the title form."""
    series = book.series[0] if book.series else None
    series_name = clean_series(series.name, rules, title=book.title) if series else ""
    volume = None
    if series_name:
        volume = format_volume(series.position if series else None) or format_volume(
            volume_from_title(book.title)
        )
    authors = filter_author_roles(book.authors, rules)
    year = book.year if book.year and re.fullmatch(r"\d{4}", book.year) else None
    if not (series_name and volume):
        head = clean_title(book.title, rules, for_folder=True)
        return NameParts(asin=asin, head=head, year=year, author=authors[0] if authors else None)
    arc = None
    if rules.mam_path.include_arc and series:
        parts = normalize_title_subtitle(
            book.title, book.subtitle or None, series.name, series.position, rules
        )
        arc = clean_title(parts.arc, rules, for_folder=True) if parts.arc else None
    return NameParts(
        asin=asin,
        head=series_name,
        volume=volume,
        arc=arc,
        year=year,
        author=authors[0] if authors else None,
    )


def mam_names(
    asin: str,
    book: BookInfo,
    files: Sequence[str],
    rules: NamingRules,
    *,
    tag: str = "",
    limit: int = 225,
) -> MamPath:
    """Everything staging needs: clean the book's metadata, then build within the limit."""
    return build_mam_path(
        name_parts(asin, book, rules),
        files,
        tag=tag,
        limit=limit,
        drop_priority=rules.mam_path.drop_priority,
    )


def build_mam_path(
    parts: NameParts,
    files: Sequence[str],
    *,
    tag: str = "",
    limit: int = 225,
    drop_priority: Sequence[str] = DROPPABLE,
) -> MamPath:
    """Assemble `base [tag]/base<suffix>` for every file so the longest path fits `limit`."""
    suffixes = file_suffixes(files)
    tag_part = f" [{_clean_component(tag)}]" if _clean_component(tag) else ""
    widest = max((len(s) for s in suffixes.values()), default=len(".m4b"))
    widest_bytes = max((_nbytes(s) for s in suffixes.values()), default=len(".m4b"))

    def fits(base: str) -> bool:
        return (
            2 * len(base) + len(tag_part) + 1 + widest <= limit
            and _nbytes(base + tag_part) <= MAX_NAME_BYTES
            and _nbytes(base) + widest_bytes <= MAX_NAME_BYTES
        )

    components = _components(parts)
    dropped: list[str] = []
    base = _join(components)
    for name in drop_priority:
        if fits(base):
            break
        if components.get(name):
            components[name] = ""
            dropped.append(name)
            base = _join(components)
    truncated = False
    if not fits(base):
        components["head"], truncated = _shorten_head(components, fits), True
        if not components["head"]:
            dropped.append("head")
        base = _join(components)
        if not fits(base):
            raise NameTooLongError(
                f"{parts.asin}: even `{base}` does not fit the {limit}-character path limit",
                hint="raise MAMFAST_PATH_LIMIT or use a shorter MAMFAST_RIPPER_TAG",
            )
    folder = base + tag_part
    targets = {source: base + suffix for source, suffix in suffixes.items()}
    longest = max((len(folder) + 1 + len(t) for t in targets.values()), default=len(folder))
    check_portable([folder, *targets.values()], max_bytes=MAX_NAME_BYTES)
    return MamPath(
        folder=folder,
        base=base,
        files=targets,
        longest=longest,
        limit=limit,
        truncated=truncated,
        dropped=dropped,
    )


def staged_asin(name: str) -> str | None:
    """The ASIN in a name `mam_names` made (its last `{ASIN.X}` token), or None.

    Only that form: `[BESTSELLER]` in someone's download is not an ASIN token.
    """
    return in_staged_name(name)


def _components(parts: NameParts) -> dict[str, str]:
    author = _clean_component(parts.author or "")
    return {
        "head": _clean_component(parts.head),
        "volume": parts.volume or "",
        "arc": _clean_component(parts.arc or ""),
        "year": f"({parts.year})" if parts.year else "",
        "author": f"({author})" if author else "",
        "asin": staged_token(_clean_component(parts.asin)),
    }


def _join(components: dict[str, str]) -> str:
    return " ".join(value for value in components.values() if value)


def _shorten_head(components: dict[str, str], fits: Callable[[str], bool]) -> str:
    """The longest "head..." that fits, cut at a word when that loses little; "" if none does."""
    head = components["head"]
    for size in range(len(head) - 1, MIN_HEAD_CHARS - 1, -1):
        cut = head[:size]
        space = cut.rfind(" ")
        if space >= size * 0.75:
            cut = cut[:space]
        candidate = cut.rstrip(" .,:;-–—") + ELLIPSIS
        if len(cut.rstrip(" .,:;-–—")) >= MIN_HEAD_CHARS and fits(
            _join({**components, "head": candidate})
        ):
            return candidate
    return ""


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def file_suffixes(files: Sequence[str]) -> dict[str, str]:
    """What follows the base name for each file, unique in the folder.

    One audio file: `.m4b`. Several: ` - Part 01.mp3` ... (fixed width, natural
    order). An ancillary named like an audio file (`Part 2.cue`) follows that
    file; other ancillaries get the bare extension, then ` - 2`, ` - 3`...
    (covers named cover/folder/front come first).
    """
    names = sorted({PurePosixPath(f).name for f in files}, key=natural_key)
    audio = [n for n in names if _ext(n) in AUDIO_EXTENSIONS]
    width = max(2, len(str(len(audio))))
    suffixes: dict[str, str] = {}
    stem_suffix: dict[str, str] = {}
    for index, name in enumerate(audio, start=1):
        part = f" - Part {index:0{width}d}" if len(audio) > 1 else ""
        suffixes[name] = part + _ext(name)
        stem_suffix[PurePosixPath(name).stem.casefold()] = part
    taken = {s.casefold() for s in suffixes.values()}
    others = [n for n in names if n not in suffixes]
    others.sort(key=lambda n: (PurePosixPath(n).stem.casefold() not in COVER_STEMS, natural_key(n)))
    for name in others:
        ext = _ext(name)
        matched = stem_suffix.get(PurePosixPath(name).stem.casefold())
        candidate = (matched + ext) if matched is not None else ext
        counter = 1
        while candidate.casefold() in taken:
            counter += 1
            candidate = f" - {counter}{ext}"
        taken.add(candidate.casefold())
        suffixes[name] = candidate
    return {name: suffixes[name] for name in sorted(suffixes, key=natural_key)}


def _ext(name: str) -> str:
    return PurePosixPath(name).suffix.lower()
