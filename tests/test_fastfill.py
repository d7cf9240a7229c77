"""The fast-fill JSON's shape: no empty key, MAM's flag object, tags, language names."""

from __future__ import annotations

import json

import pytest

from mamfast.clients.mediainfo import AudioInfo
from mamfast.config import Settings
from mamfast.library.discovery import read_folder
from mamfast.library.metadata import UnusableBookError
from mamfast.ops.demo import write_demo_library
from mamfast.release import categories, languages, mamjson
from mamfast.release.bookdata import BookFacts, SeriesEntry
from mamfast.release.prepare import prepare
from mamfast.release.review import blocking
from mamfast.release.rules import load_release_rules
from tests.support.fastfill import empty_values, shape_problems

AUDIO = AudioInfo(
    files=["a.m4b"], duration_s=30000, container="M4B", format="MPEG-4", codec="AAC LC"
)
CHOICE = categories.CategoryChoice(main_cat=1, categories=[], category="")


def facts(**overrides: object) -> BookFacts:
    values: dict[str, object] = {
        "asin": "B000000001",
        "source": "libation",
        "raw_title": "A Title",
        "title": "A Title",
    }
    values.update(overrides)
    return BookFacts.model_validate(values)


def built(book: BookFacts, choice: categories.CategoryChoice = CHOICE) -> dict[str, object]:
    ff = mamjson.build(book, AUDIO, choice, description="[b]x[/b]", media_info="")
    data = json.loads(ff.to_json())
    assert isinstance(data, dict)
    return data


def test_a_bare_book_writes_no_empty_key():
    data = built(facts())
    assert list(data) == ["title", "description", "main_cat", "mediaType", "tags", "isbn"]
    assert shape_problems(data) == []


def test_empty_lists_that_would_clear_the_form_are_left_out():
    data = built(facts(subtitle="", authors=[], narrators=[], series=[]))
    for key in ("subtitle", "authors", "narrators", "series", "categories", "flags"):
        assert key not in data, key


def test_flags_are_an_object_of_booleans_keyed_by_mam_flag_names():
    choice = CHOICE.model_copy(update={"categories": [25]})
    data = built(facts(is_adult=True, abridged=True), choice)
    # MaM Upload Helper: `box.checked = !!json.flags[flag]` for each of MAM's six flags
    assert data["flags"] == {"sSex": True, "abridged": True, "lgbt": True}
    flags = data["flags"]
    assert isinstance(flags, dict)
    names = ("cLang", "vio", "sSex", "eSex", "abridged", "lgbt")
    assert {f for f in names if flags.get(f)} == {"sSex", "abridged", "lgbt"}


def test_series_is_a_list_of_name_and_number_with_number_always_written():
    data = built(
        facts(series=[SeriesEntry(name="Cradle", number="3"), SeriesEntry(name="Wandering Inn")])
    )
    assert data["series"] == [
        {"name": "Cradle", "number": "3"},
        {"name": "Wandering Inn", "number": ""},  # a missing key reads as "undefined"
    ]
    assert empty_values(data) == []


def test_empty_values_finds_nested_ones():
    assert empty_values({"a": "", "b": [1, []], "c": {"d": None}, "e": " "}) == [
        "$.a",
        "$.b[1]",
        "$.c.d",
        "$.e",
    ]


@pytest.mark.parametrize(
    ("genres", "labels"),
    [
        (["Mystery, Thriller & Suspense"], "Mystery, Thriller & Suspense"),
        (["Mystery, Thriller & Suspense", "Thriller & Suspense"], "Mystery, Thriller & Suspense"),
        (["Science Fiction & Fantasy", "Fantasy"], "Science Fiction & Fantasy, Fantasy"),
        (
            ["Relationships, Parenting & Personal Development"],
            "Relationships, Parenting & Personal Development",
        ),
        (["A | B"], "A / B"),
        (["  Epic   Fantasy "], "Epic Fantasy"),
    ],
)
def test_a_comma_inside_a_genre_never_becomes_a_double_space(genres, labels):
    tags = mamjson.tags_line(facts(genre_tags=genres), AUDIO)
    assert tags.endswith(f" | {labels}")
    assert "  " not in tags and ",," not in tags


def test_genre_labels_split_on_commas_and_drop_duplicates():
    assert mamjson.genre_labels(["Mystery, Thriller & Suspense", "mystery"]) == [
        "Mystery",
        "Thriller & Suspense",
    ]


# --------------------------------------------------------------------------- language


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("english", "English"),
        ("English", "English"),
        ("ENGLISH", "English"),
        (" english ", "English"),
        ("mandarin_chinese", "Chinese"),
        ("Mandarin_Chinese", "Chinese"),
        ("mandarin-chinese", "Chinese"),
        ("brazilian_portuguese", "Brazilian"),
        ("portuguese", "Portuguese"),
        ("castilian_spanish", "Castilian"),
        ("spanish", "Spanish"),
        ("german", "German"),
        ("persian", "Farsi"),
        ("filipino", "Tagalog"),
        ("norwegian_bokmål", "Norwegian"),
        ("ancient_greek", "Ancient Greek"),
        ("scottish_gaelic", "Scottish"),
        ("slovene", "Slovenian"),
        ("klingon", None),
        ("", None),
        (None, None),
    ],
)
def test_audible_languages_map_onto_mam_names(value, name):
    assert languages.mam_language(value) == name


def test_the_language_table_is_consistent():
    names = [lang.name for lang in languages.LANGUAGES]
    ids = [lang.id for lang in languages.LANGUAGES]
    assert len(set(names)) == len(names) and len(set(ids)) == len(ids)
    english = languages.lookup("English")
    assert english is not None and english.id == 1
    assert set(names) >= languages.VERIFIED
    for lang in languages.LANGUAGES:  # every name and alias finds its own entry
        for spelling in (lang.name, *lang.aliases):
            assert languages.lookup(spelling) == lang, spelling


def test_json_language_is_mam_name_or_left_out():
    assert built(facts(language="mandarin_chinese"))["language"] == "Chinese"
    assert "language" not in built(facts(language="Klingon"))


def test_description_language_is_readable_even_when_mam_lacks_it():
    assert languages.readable("old_norse") == "Old Norse"
    assert languages.readable("mandarin_chinese") == "Chinese"


# --------------------------------------------------------------------------- the demo library


async def test_every_demo_book_makes_a_clean_fast_fill_json(tmp_path):
    library = tmp_path / "library"
    folders = write_demo_library(library)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, library_dir=library, data_dir=tmp_path / "data"
    )
    rules = load_release_rules(settings)
    made = 0
    for folder in folders:
        try:
            candidate = read_folder(folder, settings).candidate()
        except UnusableBookError:
            continue  # the demo's broken folder, on purpose
        prepared = await prepare(folder, candidate.asin, candidate.book, settings, None, rules)
        data = json.loads(prepared.fastfill.to_json())
        assert shape_problems(data) == [], folder.name
        # without Audnex there is no cover URL and no genre; nothing else may block the form
        without_audnex = ("No cover URL", "No MAM category matched")
        assert [b for b in blocking(prepared.fastfill) if not b.startswith(without_audnex)] == []
        made += 1
    assert made == 3
