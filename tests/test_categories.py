"""Category choice from Audible genres, and the user's override file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mamfast.errors import ConfigError
from mamfast.release.categories import choose, genre_ids, load_categories
from mamfast.release.rules import load_release_rules

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


# --------------------------------------------------------------------------- upstream parity

UPSTREAM_GENRES = Path(__file__).resolve().parent / "fixtures" / "upstream" / "genres.json"
# Where mamfast maps an upstream genre elsewhere on purpose, and why.
DELIBERATE = {
    # Audible files adult fairy-tale retellings under Fantasy; upstream's Juvenile (23)
    # would put every one of them in the children's category.
    "fairy tales": 13,
}


def upstream_genres() -> dict[str, int]:
    genres = json.loads(UPSTREAM_GENRES.read_text("utf-8"))["genres"]
    assert isinstance(genres, dict)
    return genres


def test_the_upstream_fixture_holds_all_its_genres():
    assert len(upstream_genres()) == 267


@pytest.mark.parametrize(("genre", "upstream_id"), sorted(upstream_genres().items()))
def test_every_upstream_genre_maps(genre, upstream_id):
    expected = DELIBERATE.get(genre, upstream_id)
    assert genre_ids(genre, CATS.rules.genres) == [expected]
    entry = CATS.schema.categories[expected]
    assert 1 in entry.media_types  # an audiobook category on MAM


def test_deliberate_differences_are_still_upstream_genres():
    genres = upstream_genres()
    assert all(genres[g] != ours for g, ours in DELIBERATE.items())


def test_a_longer_key_mam_refuses_for_the_main_category_gives_way():
    # "psychological" is Medicine/Psychology (nonfiction only): a novel's tag is Horror.
    assert choose([], ["Psychological Horror"], "fiction", CATS).categories == [19]
    assert choose([], ["Psychological Thriller"], "fiction", CATS).categories == [51]


# --------------------------------------------------------------------------- user files


def write(tmp_path: Path, name: str, content: object) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_upstream_flat_categories_file_loads_as_genres(tmp_path):
    flat = write(
        tmp_path,
        "categories.json",
        {
            "_comment": "MAM category mapping",
            "_version": "2025-12-20-v4",
            "Cozy Fantasy": 13,
            "epic": 1,
        },
    )
    cats = load_categories(flat)
    assert cats.rules.genres["cozy fantasy"] == 13 and cats.rules.genres["epic"] == 1
    assert choose(["Science Fiction & Fantasy"], ["Epic"], None, cats).categories == [1]
    assert cats.rules.genres["fantasy"] == 13  # the shipped map is still underneath


def test_upstream_audiobook_categories_file_loads_in_its_order(tmp_path):
    audiobook = write(
        tmp_path,
        "audiobook_categories.json",
        {
            "_comment": "first match wins",
            "_fiction": {
                "urban fantasy": "Audiobooks - Fantasy",
                "fantasy": "Audiobooks - Fantasy",
                "thriller": "Audiobooks - Crime/Thriller",
            },
            "_nonfiction": {"self-help": "Audiobooks - Self-Help"},
            "_defaults": {
                "fiction": "Audiobooks - General Fiction",
                "nonfiction": "Audiobooks - General Non-Fic",
            },
        },
    )
    cats = load_categories(None, audiobook)
    assert cats.rules.audiobook_category.fiction[0] == ("urban fantasy", "Audiobooks - Fantasy")
    # upstream files urban fantasy under Fantasy; the shipped map says Urban Fantasy
    choice = choose(["Science Fiction & Fantasy"], ["Urban Fantasy"], None, cats)
    assert choice.category == "Audiobooks - Fantasy"


def test_both_upstream_files_together_through_the_settings(tmp_path, settings):
    flat = write(tmp_path, "categories.json", {"cozy fantasy": 13})
    audiobook = write(tmp_path, "ab.json", {"_fiction": {"cozy": "Audiobooks - Romance"}})
    rules = load_release_rules(
        settings.model_copy(
            update={"categories_file": flat, "audiobook_categories_file": audiobook}
        )
    )
    choice = choose([], ["Cozy Fantasy"], None, rules.categories)
    assert choice.categories == [13] and choice.category == "Audiobooks - Romance"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # upstream's flat format with a value that is not an id: nothing loads silently
        (
            {"fantasy": 13, "sci-fi": "45"},
            r"in no format mamfast reads \(unknown key\(s\) \['sci-fi'\]\)",
        ),
        ({"_comment": "only comments"}, r"in no format mamfast reads \(no entries\)"),
        ([["fantasy", 13]], "holds a JSON list, not an object"),
        ({"genres": {"fantasy": 13}, "genre_map": {}}, "genre_map: Extra inputs are not permitted"),
        (
            {"audiobook_category": {"fiction": [], "fictoin": []}},
            "audiobook_category.fictoin: Extra inputs are not permitted",
        ),
        (
            {"audiobook_category": {"defaults": {"fictoin": "Audiobooks - Fantasy"}}},
            "audiobook_category.defaults.fictoin",
        ),
        ({"_fiction": {"x": "Audiobooks - Fantasy"}, "fantasy": 13}, "mixes upstream's"),
        ({"_fiction": ["fantasy"]}, "'_fiction' that is not an object"),
    ],
)
def test_a_file_in_no_known_format_is_refused_with_how_to_convert(tmp_path, content, message):
    path = write(tmp_path, "cats.json", content)
    with pytest.raises(ConfigError, match=message) as caught:
        load_categories(path)
    assert "audiobook_categories.json" in (caught.value.hint or "")
