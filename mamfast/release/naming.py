"""MAM names for a release: cleaning rules, volumes, authors and the folder/file builder.

Pure functions, no I/O except `load_rules`. The rules live in a data file
(`mamfast/data/naming.json`, or the user's own via MAMFAST_NAMING_FILE) and are
loaded once by the caller, which keeps the `NamingRules` object; compiled
patterns live on that object, nothing is cached at module level.

Names look like this (the tag, MAMFAST_RIPPER_TAG, is on the folder only):

    series:     Series vol_NN (Year) (Author) {ASIN.X} [Tag]/
                    Series vol_NN (Year) (Author) {ASIN.X}.m4b
    standalone: Title (Year) (Author) {ASIN.X} [Tag]/Title (Year) (Author) {ASIN.X}.m4b

MAM's limit applies to the whole relative path `folder/file`. When it is
exceeded the builder drops components in the configured order (arc, author,
year), then shortens the series or title with `...`; the ASIN and `vol_NN`
are never dropped.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from mamfast.asin import valid_asin
from mamfast.errors import InputError
from mamfast.models import BookInfo
from mamfast.release.datafile import SHIPPED_DATA, load_model
from mamfast.release.portable import check_portable

SHIPPED_RULES = SHIPPED_DATA / "naming.json"
AUDIO_EXTENSIONS = (".m4b", ".m4a", ".mp3")
COVER_STEMS = ("cover", "folder", "front")
ELLIPSIS = "..."
MAX_NAME_BYTES = 255  # one path component on ext4/xfs/btrfs/zfs
MIN_HEAD_CHARS = 3  # a shortened series/title keeps at least this much before "..."
DROPPABLE = ("arc", "author", "year")

# "Book 3" / "Book XII" never belongs in a name: the volume is vol_NN (or kept in JSON as Vol.).
_BOOK_NUMBER = re.compile(r"(?i:\bBook)\s*[:\s]\s*(?:\d+(?:\.\d+)?|[IVXLCDM]+)\b")
_DUPLICATE_VOL = re.compile(r"\b0*(\d+)\s+(vol_0*\1)\b")
_WS = re.compile(r"\s+")
_DOUBLE_DASH = re.compile(r"\s*-\s*-\s*")
_DOUBLE_COMMA = re.compile(r"\s*,\s*,\s*")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|\{\s*\}")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,:;])")
_EDGE_JUNK = re.compile(r"^[\s,:;]*(?:[-–—]\s+)?|(?:\s+[-–—])?[\s,:;]*$")
_LEADING_ARTICLE = re.compile(r"^(?:the|an?)\s+", re.IGNORECASE)

# Text direction overrides and isolates can make a name display as something else.
_BIDI_CONTROLS = dict.fromkeys(
    map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
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
_JAPANESE_RUN = re.compile(
    r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f々〆ヶ]+"
    r"(?:[ \u3000・][\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヶ]+)*"
)
_VOLUME_ALIASES: dict[str, str | None] = {
    "prequel": "0",
    "prologue": "0",
    "prelude": "0",
    "origin": "0",
    "origins": "0",
    "introduction": "0",
    "omnibus": None,
}
_NUMBER = r"\d+(?:\.\d+)?"
_VOLUME_IN_TITLE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bVol(?:ume)?\.?\s*(\d+)\s*[,:]?\s*Part\s*(\d+)\b", re.I), "{0}p{1}"),
    (re.compile(r"\b(?:Books?|Vol(?:ume)?s?)\.?\s*(\d+)\s*[-–]\s*(\d+)\b", re.I), "{0}-{1}"),
    (re.compile(rf"\bVol(?:ume)?\.?\s*({_NUMBER})\b", re.I), "{0}"),
    (re.compile(rf"\bBook\s+({_NUMBER})\b", re.I), "{0}"),
    (re.compile(r"\s(\d{1,3}(?:\.\d+)?)$"), "{0}"),  # "Series Name 3"
)
_SERIES_IN_TITLE = re.compile(
    rf"^(?P<series>.+?)\s*[,:]?\s+(?:Vol(?:ume)?\.?|Book)\s*(?P<num>{_NUMBER})"
    r"(?:\s*\([^)]*\))?(?:\s*[:\-–—].+)?$",
    re.IGNORECASE,
)
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


# --------------------------------------------------------------------------- rules


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Toggle(_Section):
    enabled: bool = True


class TitleSubtitleNormalization(Toggle):
    log_swaps: bool = False


class SeriesNameCleaning(Toggle):
    inherit_the_prefix: Toggle = Field(default_factory=Toggle)


class AuthorRoles(_Section):
    match_mode: Literal["suffix"] = "suffix"
    case_sensitive: bool = False
    roles: list[str] = Field(default_factory=list)
    credit_roles: list[str] = Field(default_factory=list)


class PhraseList(_Section):
    phrases: list[str] = Field(default_factory=list)


class PatternList(_Section):
    match_mode: Literal["regex"] = "regex"
    patterns: list[str] = Field(default_factory=list)


class SubtitlePatterns(_Section):
    remove_if_matches_series: bool = True
    remove_patterns: list[str] = Field(default_factory=list)
    keep_patterns: list[str] = Field(default_factory=list)


class RedundancyRule(_Section):
    id: str
    description: str = ""
    pattern_template: str
    action: Literal["drop_subtitle", "strip_match"] = "drop_subtitle"


class RedundancyRules(Toggle):
    rules: list[RedundancyRule] = Field(default_factory=list)


class PreserveExact(_Section):
    case_sensitive: bool = True
    titles: list[str] = Field(default_factory=list)


class PreserveInJson(_Section):
    volume_patterns: list[str] = Field(default_factory=list)


Droppable = Literal["arc", "author", "year"]


def _default_drop_order() -> list[Droppable]:
    return ["arc", "author", "year"]


class MamPathRules(_Section):
    drop_priority: list[Droppable] = Field(default_factory=_default_drop_order)
    include_arc: bool = False


def _phrases(value: Any) -> Any:
    """A phrase section may be written as a bare list as well as `{"phrases": [...]}`."""
    return {"phrases": value} if isinstance(value, list) else value


def _patterns(value: Any) -> Any:
    return {"patterns": value} if isinstance(value, list) else value


@dataclass(frozen=True)
class _Compiled:
    """Regexes built once per rules object (the caller keeps it; nothing module-level)."""

    anywhere: tuple[re.Pattern[str], ...]  # format indicators + publisher tags
    closing: tuple[re.Pattern[str], ...]  # genre tags: only where they end a title or part
    json_volumes: tuple[re.Pattern[str], ...]
    series_suffixes: tuple[re.Pattern[str], ...]
    subtitle_remove: tuple[re.Pattern[str], ...]
    subtitle_keep: tuple[re.Pattern[str], ...]
    role_suffix: re.Pattern[str] | None
    role_prefix: re.Pattern[str]


class NamingRules(BaseModel):
    """The shape of naming.json. Unknown keys (and `_comment`s) are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: str = Field(default="", alias="_version")
    title_subtitle_normalization: TitleSubtitleNormalization = Field(
        default_factory=TitleSubtitleNormalization
    )
    series_name_cleaning: SeriesNameCleaning = Field(default_factory=SeriesNameCleaning)
    author_roles: AuthorRoles = Field(default_factory=AuthorRoles)
    format_indicators: PhraseList = Field(default_factory=PhraseList)
    genre_tags: PhraseList = Field(default_factory=PhraseList)
    series_suffixes: PatternList = Field(default_factory=PatternList)
    publisher_tags: PhraseList = Field(default_factory=PhraseList)
    subtitle_patterns: SubtitlePatterns = Field(default_factory=SubtitlePatterns)
    subtitle_redundancy_rules: RedundancyRules = Field(default_factory=RedundancyRules)
    preserve_exact: PreserveExact = Field(default_factory=PreserveExact)
    transliterate_japanese: bool = True
    author_map: dict[str, str] = Field(default_factory=dict)
    preserve_in_json: PreserveInJson = Field(default_factory=PreserveInJson)
    mam_path: MamPathRules = Field(default_factory=MamPathRules)

    _compiled: _Compiled = PrivateAttr()

    _phrase_sections = field_validator(
        "format_indicators", "genre_tags", "publisher_tags", mode="before"
    )(_phrases)
    _pattern_sections = field_validator("series_suffixes", mode="before")(_patterns)

    @field_validator("author_map", mode="before")
    @classmethod
    def _drop_comments(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if not str(k).startswith("_")}
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._compiled = _compile(self)

    @property
    def compiled(self) -> _Compiled:
        return self._compiled


def _regex(pattern: str, where: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"{where}: {pattern!r} is not a valid regular expression ({exc})") from exc


def _phrase_regex(phrase: str, *, closing: bool) -> re.Pattern[str]:
    # Whole words only: "Audiobook" must not eat the start of "Audiobooks".
    tail = r"(?=\s*(?:$|[,:;)\]]|[-–—]\s))" if closing else r"(?!\w)"
    return re.compile(rf"(?<!\w){re.escape(phrase)}{tail}", re.IGNORECASE)


def _by_length(phrases: Iterable[str]) -> list[str]:
    # Longest first, so "A Progression Fantasy Epic" goes before "A Progression Fantasy".
    return sorted({p for p in phrases if p.strip()}, key=len, reverse=True)


def _words(phrase: str) -> str:
    return re.escape(phrase).replace(r"\ ", r"\s+")


def _compile(rules: NamingRules) -> _Compiled:
    anywhere = _by_length([*rules.format_indicators.phrases, *rules.publisher_tags.phrases])
    roles = rules.author_roles
    flags = 0 if roles.case_sensitive else re.IGNORECASE
    words = [_words(r) for r in _by_length(roles.roles + roles.credit_roles)]
    credits = [_words(r) for r in _by_length(roles.credit_roles)]
    suffix = None
    if words:
        # "X - translator", "X, editor", "X (Illustrator)"; a bare "John Editor" is a surname.
        suffix = re.compile(rf"(?:\s*[-–—,:]\s*|\s*\(\s*)(?:{'|'.join(words)})s?\s*\)?\s*$", flags)
    credit_by = f"(?:{'|'.join(credits)})\\s+by|" if credits else ""
    prefix = re.compile(
        rf"^(?:{credit_by}(?:translated|illustrated|edited|adapted|compiled)\s+by|with)\s+\S", flags
    )
    return _Compiled(
        anywhere=tuple(_phrase_regex(p, closing=False) for p in anywhere),
        closing=tuple(_phrase_regex(p, closing=True) for p in _by_length(rules.genre_tags.phrases)),
        json_volumes=tuple(
            _regex(p, "preserve_in_json.volume_patterns")
            for p in rules.preserve_in_json.volume_patterns
        ),
        series_suffixes=tuple(
            _regex(p, "series_suffixes.patterns") for p in rules.series_suffixes.patterns
        ),
        subtitle_remove=tuple(
            _regex(p, "subtitle_patterns.remove_patterns")
            for p in rules.subtitle_patterns.remove_patterns
        ),
        subtitle_keep=tuple(
            _regex(p, "subtitle_patterns.keep_patterns")
            for p in rules.subtitle_patterns.keep_patterns
        ),
        role_suffix=suffix,
        role_prefix=prefix,
    )


def load_rules(path: Path | None = None) -> NamingRules:
    """Read naming.json (None: the file shipped with mamfast). Raises ConfigError."""
    return load_model(
        Path(path or SHIPPED_RULES),
        NamingRules,
        what="naming rules",
        setting="MAMFAST_NAMING_FILE",
        shipped="mamfast/data/naming.json",
    )


# --------------------------------------------------------------------------- cleaning


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
    """An exact `preserve_exact` entry, or one followed by a non-letter ("Re:ZERO -Starting...")."""
    sensitive = rules.preserve_exact.case_sensitive
    text = name.strip() if sensitive else name.strip().casefold()
    for entry in rules.preserve_exact.titles:
        key = entry if sensitive else entry.casefold()
        if text == key or (text.startswith(key) and not text[len(key)].isalnum()):
            return True
    return False


def clean_title(title: str, rules: NamingRules, *, for_folder: bool) -> str:
    """Strip format/genre/publisher cruft and "Book N"; for folders also "Vol. N".

    `for_folder=False` keeps "Vol. N" / "Volume N" (MAM's JSON title keeps them).
    Cleaning never empties a title: if nothing would be left, the tidied input is kept.
    """
    original = _WS.sub(" ", title).strip()
    if not original or is_preserved(original, rules):
        return original
    compiled = rules.compiled
    result = _BOOK_NUMBER.sub("", original)
    if for_folder:
        for pattern in compiled.json_volumes:
            result = pattern.sub("", result)
    for pattern in compiled.anywhere:
        result = pattern.sub("", result)
    for pattern in compiled.closing:
        result = pattern.sub("", result)
    result = _DUPLICATE_VOL.sub(r"\2", _WS.sub(" ", result))
    return tidy(result) or tidy(original)


def clean_series(name: str, rules: NamingRules, *, title: str | None = None) -> str:
    """A series name without cruft or suffixes ("... Series", "... Trilogy", "[reading order]").

    With `title`, "The" is inherited when the title reads "The <series>..."
    ("Great Cleric" + "The Great Cleric: Volume 1" -> "The Great Cleric").
    """
    original = _WS.sub(" ", name).strip()
    if not original or is_preserved(original, rules) or not rules.series_name_cleaning.enabled:
        return original
    result = clean_title(original, rules, for_folder=True)
    changed = True
    while changed:  # "X Light Novel Series" loses both suffixes
        changed = False
        for pattern in rules.compiled.series_suffixes:
            stripped = tidy(pattern.sub("", result))
            if stripped and stripped != result:
                result, changed = stripped, True
    if title and rules.series_name_cleaning.inherit_the_prefix.enabled:
        result = _inherit_the(result, title)
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
        pattern = _regex(source, f"subtitle_redundancy_rules.{rule.id}")
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

    MAM wants the book's own name as the title, never "Series N". When the
    title is just the series and a number and the subtitle is a real name,
    the two are swapped ("Sword Art Online 7" / "Mother's Rosary"). The arc is
    whichever of the two is neither the series nor a genre line.
    """
    head = _WS.sub(" ", title).strip()
    sub = _WS.sub(" ", subtitle).strip() if subtitle else None
    names = _series_names(series_name, rules)
    if not names:
        return TitleParts(title=head, subtitle=sub or None, arc=None, swapped=False)
    swapped = False
    if (
        rules.title_subtitle_normalization.enabled
        and sub
        and _is_series_number(head, names, series_position)
        and not _mentions(sub, names)
        and not _is_generic(sub, rules)
    ):
        head, sub, swapped = sub, head, True
    arc = next(
        (t for t in (sub, head) if t and not _mentions(t, names) and not _is_generic(t, rules)),
        None,
    )
    return TitleParts(title=head, subtitle=sub or None, arc=arc, swapped=swapped)


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
    if position and re.fullmatch(
        rf"(?:(?:vol(?:ume)?\.?|book|part|#)\s*)?0*{re.escape(position.strip())}", text, re.I
    ):
        return True
    for name in names:
        pattern = (
            rf"^{re.escape(name)}(?:\s*\((?:light novel|manga)\))?\s*[,:]?\s*"
            rf"(?:(?:vol(?:ume)?\.?|book|part|no\.?|#)\s*)?{_NUMBER}$"
        )
        if re.match(pattern, text, re.IGNORECASE):
            return True
    return False


def _is_generic(text: str, rules: NamingRules) -> bool:
    if any(p.search(text) for p in rules.compiled.subtitle_keep):
        return False
    return any(p.search(text) for p in (*rules.compiled.subtitle_remove, *_READING_LINES))


# --------------------------------------------------------------------------- authors


def filter_author_roles(names: list[str], rules: NamingRules) -> list[str]:
    """Authors only: drop translators, illustrators, "Foreword by X"...; de-duplicated, in order."""
    compiled = rules.compiled
    kept: list[str] = []
    seen: set[str] = set()
    for raw in names:
        name = _WS.sub(" ", raw).strip()
        if not name:
            continue
        if compiled.role_suffix and compiled.role_suffix.search(name):
            continue
        if compiled.role_prefix.search(name):
            continue
        key = name.casefold()
        if key not in seen:
            seen.add(key)
            kept.append(name)
    return kept


def romanize(name: str, rules: NamingRules) -> str:
    """A Latin-script name for the JSON and description (folder names keep the original).

    author_map first (exact, close match for non-Latin input, then substrings),
    then pykakasi Hepburn for what is still Japanese, Title-Cased. Other
    scripts are returned unchanged.
    """
    text = _WS.sub(" ", unicodedata.normalize("NFKC", name)).strip()
    mapping = {unicodedata.normalize("NFKC", k): v for k, v in rules.author_map.items()}
    if text in mapping:
        return mapping[text]
    if mapping and not text.isascii():
        close = difflib.get_close_matches(text, list(mapping), n=1, cutoff=0.85)
        if close:
            return mapping[close[0]]
    for key in sorted(mapping, key=len, reverse=True):
        if key in text:
            text = text.replace(key, mapping[key])
    if rules.transliterate_japanese and _JAPANESE_RUN.search(text):
        text = _transliterate(text)
    return _WS.sub(" ", text).strip()


def _transliterate(text: str) -> str:
    import pykakasi  # imported on first use: loading its dictionaries takes ~0.5 s

    converter = pykakasi.kakasi()  # type: ignore[no-untyped-call]

    def hepburn(match: re.Match[str]) -> str:
        words = " ".join(item["hepburn"] for item in converter.convert(match.group(0))).split()
        return " ".join(word[:1].upper() + word[1:] for word in words)

    return _JAPANESE_RUN.sub(hepburn, text)


# --------------------------------------------------------------------------- volumes


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
    if match := re.fullmatch(rf"({_NUMBER})\s*-\s*({_NUMBER})", text):
        return f"vol_{_pad(match[1])}-{_pad(match[2])}"
    if match := re.fullmatch(r"(\d+)\s*(?:p|pt\.?|part|_|,\s*part)\s*(\d+)", text):
        return f"vol_{_pad(match[1])}p{int(match[2])}"
    if re.fullmatch(_NUMBER, text):
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


def series_from_title(title: str) -> tuple[str, str] | None:
    """("Series", "5") from "Series, Vol. 5" / "Series: Book 5" / "Series Volume 5: Arc"."""
    match = _SERIES_IN_TITLE.match(_WS.sub(" ", title).strip())
    if not match or len(match["series"].strip(" ,:")) < 2:
        return None
    return match["series"].strip(" ,:"), match["num"]


# --------------------------------------------------------------------------- sanitising


def sanitize_component(text: str) -> str:
    """One piece of a name made safe on every platform MAM users seed from.

    `/ \\ |` -> `-`, `:` -> ` -`, `"` -> `'`, `< > ? *` removed, control and
    text-direction characters removed, whitespace collapsed, leading/trailing
    dots, dashes and spaces stripped (so `..`, `/` and NUL can never make a path).
    """
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
    tag_part = f" [{sanitize_component(tag)}]" if sanitize_component(tag) else ""
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


_STAGED_TOKEN = re.compile(r"\{ASIN\.([0-9A-Z]{10})\}")


def staged_asin(name: str) -> str | None:
    """The ASIN in a name `mam_names` made (its last `{ASIN.X}` token), or None.

    Only that form: `[BESTSELLER]` in someone's download is not an ASIN token.
    """
    found = _STAGED_TOKEN.findall(name)
    return found[-1] if found and valid_asin(found[-1]) else None


def _components(parts: NameParts) -> dict[str, str]:
    author = sanitize_component(parts.author or "")
    return {
        "head": sanitize_component(parts.head),
        "volume": parts.volume or "",
        "arc": sanitize_component(parts.arc or ""),
        "year": f"({parts.year})" if parts.year else "",
        "author": f"({author})" if author else "",
        "asin": "{ASIN." + sanitize_component(parts.asin) + "}",
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


def natural_key(name: str) -> list[Any]:
    """Sort "Part 2" before "Part 10"."""
    return [int(t) if t.isdigit() else t.casefold() for t in re.split(r"(\d+)", name)]


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
