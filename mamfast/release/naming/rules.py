"""The naming rules: `naming.json` read and checked, its patterns compiled once.

The rules live in a data file (`mamfast/data/naming.json`, or the user's own
via MAMFAST_NAMING_FILE) and are loaded once by the caller, which keeps the
`NamingRules` object; compiled patterns live on that object, nothing is
cached at module level. A pattern that is not a valid regular expression is
a ConfigError naming the section.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from mamfast.release.datafile import SHIPPED_DATA, load_model

SHIPPED_RULES = SHIPPED_DATA / "naming.json"


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Toggle(_Section):
    enabled: bool = True


TitleConvention = Literal["series", "book_title"]


class TitleSubtitleNormalization(Toggle):
    log_swaps: bool = False
    # Which of "Series N" and the book's own name is the title; MAMFAST_TITLE_CONVENTION sets it.
    convention: TitleConvention = "series"


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


def rule_regex(pattern: str, where: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
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
            rule_regex(p, "preserve_in_json.volume_patterns")
            for p in rules.preserve_in_json.volume_patterns
        ),
        series_suffixes=tuple(
            rule_regex(p, "series_suffixes.patterns") for p in rules.series_suffixes.patterns
        ),
        subtitle_remove=tuple(
            rule_regex(p, "subtitle_patterns.remove_patterns")
            for p in rules.subtitle_patterns.remove_patterns
        ),
        subtitle_keep=tuple(
            rule_regex(p, "subtitle_patterns.keep_patterns")
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
