"""MAM categories for a book: main category, new multi-categories, old single category.

MAM's upload form wants both category systems (its helper script marks a
missing one as an error). The maps from Audible genres live in data files
shipped with the package (`mamfast/data/categories.json`), which a user can
extend or override with MAMFAST_CATEGORIES_FILE (same shape, every section
optional; the user's entries are tried first and win). MAM's own schema
(`mam_categories.json`) is reference data used to keep the choices valid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mamfast.errors import ConfigError
from mamfast.release.datafile import SHIPPED_DATA, load_model

DATA = SHIPPED_DATA
SHIPPED_RULES = DATA / "categories.json"
MAM_SCHEMA = DATA / "mam_categories.json"
AUDIOBOOK = 1
MainCat = Literal[1, 2]
FICTION: MainCat = 1
NONFICTION: MainCat = 2
_SPLIT = re.compile(r"\s+&\s+|,\s+|\s+and\s+")


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AudiobookCategoryRules(_Section):
    fiction: list[tuple[str, str]] = Field(default_factory=list)
    nonfiction: list[tuple[str, str]] = Field(default_factory=list)
    defaults: dict[str, str] = Field(default_factory=dict)


class MainCatRules(_Section):
    nonfiction_genres: list[str] = Field(default_factory=list)
    fiction_genres: list[str] = Field(default_factory=list)


class CategoryRules(_Section):
    """categories.json; in a user's file every section may be left out."""

    genres: dict[str, int] = Field(default_factory=dict)
    audiobook_category: AudiobookCategoryRules = Field(default_factory=AudiobookCategoryRules)
    main_cat: MainCatRules = Field(default_factory=MainCatRules)

    @field_validator("genres")
    @classmethod
    def _lowercase(cls, value: dict[str, int]) -> dict[str, int]:
        return {k.strip().casefold(): v for k, v in value.items() if not k.startswith("_")}


class MamCategory(_Section):
    name: str
    main_types: list[int]
    media_types: list[int]


class MamSchema(_Section):
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


def load_categories(path: Path | None = None) -> Categories:
    """The shipped maps, with the user's file (MAMFAST_CATEGORIES_FILE) layered on top."""
    shipped = CategoryRules.model_validate(_read(SHIPPED_RULES))
    schema = MamSchema.model_validate(_read(MAM_SCHEMA))
    rules = shipped if path is None else _layer(_user_rules(path), shipped)
    _check_against_schema(rules, schema, path)
    return Categories(rules=rules, schema=schema)


def _read(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def _user_rules(path: Path) -> CategoryRules:
    return load_model(
        path,
        CategoryRules,
        what="categories file",
        setting="MAMFAST_CATEGORIES_FILE",
        shipped="mamfast/data/categories.json",
    )


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
            found = [i for i in genre_ids(name, cats.rules.genres) if _allowed(i, main_cat, cats)]
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


def genre_ids(name: str, table: dict[str, int]) -> list[int]:
    """IDs for one genre name: exact, else its parts ("A & B"), else the longest key inside it."""
    key = name.strip().casefold()
    if key in table:
        return [table[key]]
    parts = [p for p in _SPLIT.split(key) if p]
    if len(parts) > 1 and (ids := [table[p] for p in parts if p in table]):
        return ids
    inside = [k for k in table if len(k) >= 4 and re.search(rf"(?<!\w){re.escape(k)}(?!\w)", key)]
    return [table[max(inside, key=len)]] if inside else []


def old_category(
    tags: Iterable[str], genres: Iterable[str], main_cat: MainCat, cats: Categories
) -> str:
    rules = cats.rules.audiobook_category
    kind = "fiction" if main_cat == FICTION else "nonfiction"
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
