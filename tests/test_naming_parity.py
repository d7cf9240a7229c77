"""Naming parity with the rules the upstream tool's users upload with (rule set v1.7.0).

Every upstream rule is covered here by an input and the name it must give;
docs/naming-parity.md lists where mamfast differs on purpose, and why.
"""

from __future__ import annotations

import pytest

from mamfast.models import BookInfo, SeriesRef
from mamfast.release.naming import (
    NamingRules,
    clean_series,
    clean_subtitle,
    clean_title,
    is_preserved,
    load_rules,
    mam_names,
)


@pytest.fixture(scope="module")
def rules() -> NamingRules:
    return load_rules()


def test_rules_version_marks_the_upstream_base(rules):
    assert rules.version.startswith("1.7.0-mamfast.")
    assert int(rules.version.rsplit(".", 1)[1]) >= 2


# --------------------------------------------------------------------------- item: missing rules


@pytest.mark.parametrize(
    "subtitle",
    [
        "A Drizzt Novel",
        "A Hunger Games Novel",
        "A Xianxia",
        "A Xianxia Novel",
        "A Xianxia Cultivation",
        "A Xianxia Cultivation Novel",
        "A Cultivation",
        "A Cultivation Novel",
        "An Isekai Novel",
        "An Isekai LitRPG",
        "A GameLit",
        "From Hero-King to Extraordinary Squire -",
    ],
)
def test_generic_subtitles_from_the_upstream_rule_set_are_dropped(rules, subtitle):
    assert clean_subtitle(subtitle, rules, series=None, title="Some Book") == ""


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Title: A Xianxia Novel", "Title"),
        ("Title: A Xianxia Cultivation Novel", "Title"),
        ("Beware of Chicken: A Xianxia Cultivation Novel", "Beware of Chicken"),
        ("Title - A Slice of Life Harem LitRPG", "Title"),
        ("Title - A Slice-of-Life Urban Fantasy", "Title"),
    ],
)
def test_genre_phrases_from_the_upstream_rule_set_close_a_title(rules, title, expected):
    assert clean_title(title, rules, for_folder=False) == expected
    assert clean_title(title, rules, for_folder=True) == expected


def test_a_genre_phrase_inside_a_title_stays(rules):
    title = "A Xianxia Novel Collection"
    assert clean_title(title, rules, for_folder=True) == title


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        ("Legend of Drizzt Book", "Legend of Drizzt"),
        ("The Dresden Files Book", "The Dresden Files"),
        ("Bookworm", "Bookworm"),  # whole words only
        ("Ascendance of a Bookworm", "Ascendance of a Bookworm"),
        ("Book", "Book"),  # never emptied
    ],
)
def test_series_suffix_book(rules, series, expected):
    assert clean_series(series, rules) == expected


@pytest.mark.parametrize(
    ("subtitle", "series", "expected"),
    [
        ("Holes Series, Book 2", "Holes", ""),
        ("The Expanse, Books 1-3", "The Expanse", ""),
        ("Cibola Burn (The Expanse, Vol. 4)", "The Expanse", "Cibola Burn"),
        ("Cibola Burn (The Expanse, Volume 4)", "The Expanse", "Cibola Burn"),
    ],
)
def test_redundancy_rules_from_the_upstream_rule_set(rules, subtitle, series, expected):
    assert clean_subtitle(subtitle, rules, series=series, title="Book") == expected


# --------------------------------------------------------------------------- item: never-clean


DANMACHI = "Is It Wrong to Try to Pick Up Girls in a Dungeon?"


def test_a_never_clean_entry_protects_only_its_own_text(rules):
    longer = f"{DANMACHI} (light novel)"
    assert not is_preserved(longer, rules)
    assert is_preserved(DANMACHI, rules)
    assert clean_series(longer, rules) == DANMACHI
    assert clean_title(longer, rules, for_folder=True) == DANMACHI
    assert clean_title(f"{DANMACHI} (Light Novel), Vol. 3", rules, for_folder=False) == (
        f"{DANMACHI}, Vol. 3"
    )


def test_the_protected_text_is_never_rewritten(rules):
    # tidy() would turn "86--EIGHTY" into "86 - EIGHTY"; the entry must come through as written.
    assert clean_title("86--EIGHTY-SIX (Light Novel), Vol. 2", rules, for_folder=False) == (
        "86--EIGHTY-SIX, Vol. 2"
    )
    assert clean_series("86--EIGHTY-SIX Light Novel Series", rules) == "86--EIGHTY-SIX"
    assert clean_title("Re:ZERO", rules, for_folder=True) == "Re:ZERO"


def test_never_clean_entries_match_case_as_configured(rules):
    insensitive = rules.model_copy(
        update={"preserve_exact": rules.preserve_exact.model_copy(update={"case_sensitive": False})}
    )
    assert clean_series("re:zero (Light Novel)", insensitive) == "re:zero"
    assert is_preserved("RE:ZERO", insensitive)


def test_danmachi_folder_keeps_its_author_within_225(rules):
    book = BookInfo(
        title=f"{DANMACHI}, Vol. 1",
        series=[SeriesRef(name=f"{DANMACHI} (light novel)", position="1")],
        year="2023",
        authors=["Fujino Omori"],
    )
    result = mam_names("B0CCHZP3MZ", book, ["Book.m4b"], rules, tag="H2OKing", limit=225)
    assert result.folder == (
        "Is It Wrong to Try to Pick Up Girls in a Dungeon vol_01 (2023) (Fujino Omori) "
        "{ASIN.B0CCHZP3MZ} [H2OKing]"
    )
    assert result.dropped == []
    assert result.longest <= 225
