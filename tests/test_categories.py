"""Category choice from Audible genres, and the user's override file."""

from __future__ import annotations

import json

import pytest

from mamfast.errors import ConfigError
from mamfast.release.categories import choose, genre_ids, load_categories

CATS = load_categories()


@pytest.mark.parametrize(
    ("genres", "tags", "literature", "expected"),
    [
        (
            ["Science Fiction & Fantasy"],
            ["Fantasy", "Epic"],
            "fiction",
            (1, [13], "Audiobooks - Fantasy"),
        ),
        (
            ["Science Fiction & Fantasy"],
            ["Science Fiction", "Space Opera"],
            None,
            (1, [45], "Audiobooks - Science Fiction"),
        ),
        (["Science Fiction & Fantasy"], [], None, (1, [13, 45], "Audiobooks - Fantasy")),
        (["History"], ["Maritime"], None, (2, [17], "Audiobooks - History")),
        (["Biographies & Memoirs"], [], None, (2, [3], "Audiobooks - Biographical")),
        (
            ["Mystery, Thriller & Suspense"],
            ["Crime Thrillers"],
            None,
            (1, [9], "Audiobooks - Crime/Thriller"),
        ),
        ([], [], "nonfiction", (2, [], "Audiobooks - General Non-Fic")),
        ([], [], None, (1, [], "Audiobooks - General Fiction")),
    ],
)
def test_choose(genres, tags, literature, expected):
    choice = choose(genres, tags, literature, CATS)
    assert (choice.main_cat, choice.categories, choice.category) == expected


def test_categories_must_suit_the_main_category():
    # Self-Help (46) is nonfiction-only on MAM: dropped for a novel, the broad genre decides.
    assert choose(["Literature & Fiction"], ["Self-Help"], None, CATS).categories == [57]
    assert choose(
        ["Relationships, Parenting & Personal Development"], ["Self-Help"], None, CATS
    ).categories == [46]


def test_genre_matching_exact_parts_and_inside():
    table = CATS.rules.genres
    assert genre_ids("Fantasy", table) == [13]
    assert genre_ids("Science Fiction & Fantasy", table) == [45, 13]
    assert genre_ids("Dark Epic Fantasy Adventures", table) == [13]  # longest key inside
    assert genre_ids("Knitting", table) == []


def test_user_file_is_layered_over_the_shipped_maps(tmp_path):
    mine = tmp_path / "cats.json"
    mine.write_text(
        json.dumps(
            {
                "genres": {"Epic": 1, "Cozy Fantasy": 13},
                "audiobook_category": {"fiction": [["epic", "Audiobooks - Action/Adventure"]]},
            }
        )
    )
    cats = load_categories(mine)
    choice = choose(["Science Fiction & Fantasy"], ["Epic"], None, cats)
    assert choice.categories == [1] and choice.category == "Audiobooks - Action/Adventure"
    assert cats.rules.genres["fantasy"] == 13  # shipped entries are still there
    assert cats.rules.genres["cozy fantasy"] == 13


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"genres": {"fantasy": 999}}', r"unknown category id\(s\) \[999\]"),
        (
            '{"audiobook_category": {"defaults": {"fiction": "Audiobooks - Nope"}}}',
            "Audiobooks - Nope",
        ),
        ('{"genres": ', "not valid JSON"),
        ('{"genres": {"fantasy": "lots"}}', "is invalid: genres.fantasy"),
    ],
)
def test_bad_user_file_is_a_config_error(tmp_path, content, message):
    mine = tmp_path / "cats.json"
    mine.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_categories(mine)
    with pytest.raises(ConfigError, match="cannot read"):
        load_categories(tmp_path / "missing.json")
