"""MAM categories for a book: main category, new multi-categories, old single category.

MAM's upload form wants both category systems (its helper script marks a
missing one as an error). The maps from Audible genres live in data files
shipped with the package (`mamfast/data/categories.json`), which a user can
extend or override with MAMFAST_CATEGORIES_FILE and MAMFAST_AUDIOBOOK_CATEGORIES_FILE
(the user's entries are tried first and win). MAM's own schema
(`mam_categories.json`) is reference data used to keep the choices valid.

A user's file may be in mamfast's format (sections `genres`, `audiobook_category`,
`main_cat`, each optional) or in either of the upstream tool's two formats:
its flat `categories.json` (genre -> id at the top level) and its
`audiobook_categories.json` (`_fiction`, `_nonfiction`, `_defaults`). A file
that is none of these, or has a key none of them knows, is refused with what to
do: nothing in a user's file is ever ignored silently. Keys starting with "_"
are comments, except upstream's three section names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mamfast.errors import ConfigError
from mamfast.release.datafile import SHIPPED_DATA, first_error, load_json

DATA = SHIPPED_DATA
SHIPPED_RULES = DATA / "categories.json"
MAM_SCHEMA = DATA / "mam_categories.json"
AUDIOBOOK = 1
MainCat = Literal[1, 2]
FICTION: MainCat = 1
NONFICTION: MainCat = 2
_SPLIT = re.compile(r"\s+&\s+|,\s+|\s+and\s+")


def _without_comments(value: Any) -> Any:
    """A categories file's "_" keys are comments."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if not str(k).startswith("_")}
    return value


class _Section(BaseModel):
    """A section of a categories file: "_" keys are comments, any other unknown key an error."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_comments(cls, value: Any) -> Any:
        return _without_comments(value)


class _Reference(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AudiobookCategoryRules(_Section):
    fiction: list[tuple[str, str]] = Field(default_factory=list)
    nonfiction: list[tuple[str, str]] = Field(default_factory=list)
    defaults: dict[Literal["fiction", "nonfiction"], str] = Field(default_factory=dict)

    @field_validator("defaults", mode="before")
    @classmethod
    def _no_comments(cls, value: Any) -> Any:
        return _without_comments(value)


class MainCatRules(_Section):
    nonfiction_genres: list[str] = Field(default_factory=list)
    fiction_genres: list[str] = Field(default_factory=list)


class CategoryRules(_Section):
    """categories.json; in a user's file every section may be left out."""

    genres: dict[str, int] = Field(default_factory=dict)
    audiobook_category: AudiobookCategoryRules = Field(default_factory=AudiobookCategoryRules)
    main_cat: MainCatRules = Field(default_factory=MainCatRules)

    @field_validator("genres", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {str(k).strip().casefold(): v for k, v in _without_comments(value).items()}


class MamCategory(_Reference):
    name: str
    main_types: list[int]
    media_types: list[int]


class MamSchema(_Reference):
    categories: dict[int, MamCategory]
    audiobook_categories: dict[str, int]


@dataclass(frozen=True)
class Categories:
    rules: CategoryRules
    schema: MamSchema


class CategoryChoice(BaseModel):
    main_cat: MainCat
    categories: list[int]
    category: str
    matched: list[str] = Field(default_factory=list)  # the genres that gave `categories`


# --------------------------------------------------------------------------- loading


def load_categories(path: Path | None = None, audiobook_path: Path | None = None) -> Categories:
    """The shipped maps, with the user's files layered on top (the last one wins).

    `path` is MAMFAST_CATEGORIES_FILE, `audiobook_path` MAMFAST_AUDIOBOOK_CATEGORIES_FILE
    (meant for upstream's audiobook_categories.json); each may be in any of the three
    formats. Raises ConfigError naming the file and what to do.
    """
    shipped = CategoryRules.model_validate(_read(SHIPPED_RULES))
    schema = MamSchema.model_validate(_read(MAM_SCHEMA))
    _check_against_schema(shipped, schema, None)
    rules = shipped
    for user_path in (path, audiobook_path):
        if user_path is not None:
            mine = _user_rules(user_path)
            _check_against_schema(mine, schema, user_path)
            rules = _layer(mine, rules)
    return Categories(rules=rules, schema=schema)


def _read(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


OUR_SECTIONS = frozenset({"genres", "audiobook_category", "main_cat"})
UPSTREAM_AUDIOBOOK_SECTIONS = {"_fiction": "fiction", "_nonfiction": "nonfiction"}
HOW_TO_CONVERT = (
    "use mamfast's format (mamfast/data/categories.json: genre -> id pairs under "
    '"genres", keyword/category pairs under "audiobook_category"), or one of the upstream '
    "tool's two files unchanged: its flat categories.json (genre -> MAM category id) or "
    'its audiobook_categories.json ("_fiction", "_nonfiction", "_defaults")'
)


def _user_rules(path: Path) -> CategoryRules:
    """A user's file in any of the three formats, as mamfast's rules."""
    raw = load_json(
        path,
        what="categories file",
        setting="MAMFAST_CATEGORIES_FILE or MAMFAST_AUDIOBOOK_CATEGORIES_FILE",
        shipped="mamfast/data/categories.json",
    )
    try:
        return CategoryRules.model_validate(_as_our_format(raw))
    except ValidationError as exc:
        raise ConfigError(
            f"categories file {path} is invalid: {first_error(exc)}",
            hint=HOW_TO_CONVERT,
        ) from None
    except ValueError as exc:
        raise ConfigError(f"categories file {path} {exc}", hint=HOW_TO_CONVERT) from None


def _as_our_format(raw: Any) -> dict[str, Any]:
    """mamfast's sections, from whichever format `raw` is in (ValueError: none of them)."""
    if not isinstance(raw, dict):
        raise ValueError(f"holds a JSON {type(raw).__name__}, not an object")
    keys = set(raw)
    if keys & {*UPSTREAM_AUDIOBOOK_SECTIONS, "_defaults"}:
        return {"audiobook_category": _from_upstream_audiobook(raw)}
    if keys & OUR_SECTIONS:
        return raw
    entries = _without_comments(raw)
    if entries and all(isinstance(v, int) and not isinstance(v, bool) for v in entries.values()):
        return {"genres": entries}  # upstream's flat categories.json
    wrong = sorted(k for k, v in entries.items() if not isinstance(v, int) or isinstance(v, bool))
    found = f"unknown key(s) {wrong[:5]}" if wrong else "no entries"
    raise ValueError(f"is in no format mamfast reads ({found})")


def _from_upstream_audiobook(raw: dict[str, Any]) -> dict[str, Any]:
    """Upstream's audiobook_categories.json: ordered keyword -> category maps per kind."""
    section: dict[str, Any] = {}
    for key, value in raw.items():
        if key in UPSTREAM_AUDIOBOOK_SECTIONS:
            if not isinstance(value, dict):
                raise ValueError(f"has {key!r} that is not an object of keyword -> category")
            section[UPSTREAM_AUDIOBOOK_SECTIONS[key]] = [
                [k, v] for k, v in value.items() if not str(k).startswith("_")
            ]
        elif key == "_defaults":
            section["defaults"] = value
        elif not key.startswith("_"):
            raise ValueError(
                f"mixes upstream's audiobook_categories.json format with the key {key!r}"
            )
    return section


def _layer(user: CategoryRules, shipped: CategoryRules) -> CategoryRules:
    mine, base = user.audiobook_category, shipped.audiobook_category
    return CategoryRules(
        genres={**shipped.genres, **user.genres},
        audiobook_category=AudiobookCategoryRules(
            fiction=[*mine.fiction, *base.fiction],
            nonfiction=[*mine.nonfiction, *base.nonfiction],
            defaults={**base.defaults, **mine.defaults},
        ),
        main_cat=MainCatRules(
            nonfiction_genres=[
                *user.main_cat.nonfiction_genres,
                *shipped.main_cat.nonfiction_genres,
            ],
            fiction_genres=[*user.main_cat.fiction_genres, *shipped.main_cat.fiction_genres],
        ),
    )


def _check_against_schema(rules: CategoryRules, schema: MamSchema, path: Path | None) -> None:
    """A typo in a user's map must fail at start-up, not produce a form MAM rejects."""
    where = str(path) if path else "the shipped categories.json"
    unknown_ids = sorted({i for i in rules.genres.values() if i not in schema.categories})
    names = [c for _, c in rules.audiobook_category.fiction + rules.audiobook_category.nonfiction]
    names += list(rules.audiobook_category.defaults.values())
    unknown_names = sorted({n for n in names if n not in schema.audiobook_categories})
    if unknown_ids or unknown_names:
        problems = [f"unknown category id(s) {unknown_ids}"] if unknown_ids else []
        problems += [f"unknown audiobook category name(s) {unknown_names}"] if unknown_names else []
        raise ConfigError(
            f"{where}: {'; '.join(problems)}",
            hint="use ids and names from mamfast/data/mam_categories.json",
        )


# --------------------------------------------------------------------------- choosing


def choose(
    genres: Sequence[str],
    tags: Sequence[str],
    literature_type: str | None,
    cats: Categories,
) -> CategoryChoice:
    """Categories for a book from Audible's genres (its top categories) and tags.

    Tags are specific ("Epic", "Space Opera"), genres are broad ("Science
    Fiction & Fantasy"), so tags decide when they map to anything.
    """
    main_cat = main_category(genres, literature_type, cats)
    ids: list[int] = []
    matched: list[str] = []
    for names in (tags, genres):
        for name in names:
            found = genre_ids(
                name, cats.rules.genres, allowed=lambda i: _allowed(i, main_cat, cats)
            )
            if found:
                matched.append(name)
                ids.extend(found)
        if ids:
            break
    return CategoryChoice(
        main_cat=main_cat,
        categories=sorted(set(ids)),
        category=old_category(tags, genres, main_cat, cats),
        matched=matched,
    )


def main_category(genres: Sequence[str], literature_type: str | None, cats: Categories) -> MainCat:
    """Audible's top-level genre, then Audnex's literatureType (often missing), then fiction."""
    names = {g.strip().casefold() for g in genres}
    rules = cats.rules.main_cat
    if names & {g.casefold() for g in rules.nonfiction_genres}:
        return NONFICTION
    if names & {g.casefold() for g in rules.fiction_genres}:
        return FICTION
    if (literature_type or "").strip().casefold() in ("nonfiction", "non-fiction"):
        return NONFICTION
    return FICTION


def genre_ids(
    name: str, table: dict[str, int], allowed: Callable[[int], bool] = lambda _: True
) -> list[int]:
    """IDs for one genre name: exact, else its parts ("A & B"), else the longest key inside it.

    Only `allowed` ids count (those MAM accepts for the book's main category), so
    "Psychological Horror" in a novel is Horror: "psychological" (Medicine/Psychology,
    nonfiction only) is longer but not allowed, and the next key inside it is tried.
    """
    key = name.strip().casefold()
    if key in table:
        return [table[key]] if allowed(table[key]) else []
    parts = [p for p in _SPLIT.split(key) if p]
    if len(parts) > 1 and (ids := [table[p] for p in parts if p in table and allowed(table[p])]):
        return ids
    inside = [k for k in table if len(k) >= 4 and re.search(rf"(?<!\w){re.escape(k)}(?!\w)", key)]
    for found in sorted(inside, key=len, reverse=True):
        if allowed(table[found]):
            return [table[found]]
    return []


def old_category(
    tags: Iterable[str], genres: Iterable[str], main_cat: MainCat, cats: Categories
) -> str:
    rules = cats.rules.audiobook_category
    kind: Literal["fiction", "nonfiction"] = "fiction" if main_cat == FICTION else "nonfiction"
    keywords = rules.fiction if main_cat == FICTION else rules.nonfiction
    for names in (list(tags), list(genres)):  # specific tags before broad genres
        lowered = [n.casefold() for n in names]
        for keyword, category in keywords:
            pattern = re.compile(rf"(?<!\w){re.escape(keyword.casefold())}")
            if any(pattern.search(n) for n in lowered):
                return category
    return rules.defaults.get(kind, "")


def _allowed(category_id: int, main_cat: MainCat, cats: Categories) -> bool:
    """MAM accepts a category only for the main types and media types it lists."""
    entry = cats.schema.categories.get(category_id)
    return entry is not None and AUDIOBOOK in entry.media_types and main_cat in entry.main_types


def category_names(ids: Iterable[int], cats: Categories) -> list[str]:
    return [cats.schema.categories[i].name for i in ids if i in cats.schema.categories]
