"""MAM naming: the 20 golden cleaning cases, full folder names, budget, and hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pathvalidate
import pytest

from mamfast.errors import ConfigError, InputError
from mamfast.models import BookInfo, SeriesRef
from mamfast.release.naming import (
    MamPathRules,
    NameParts,
    NamingRules,
    build_mam_path,
    clean_series,
    clean_subtitle,
    clean_title,
    file_suffixes,
    filter_author_roles,
    format_volume,
    load_rules,
    mam_names,
    normalize_title_subtitle,
    romanize,
    sanitize_component,
    series_from_title,
    volume_from_title,
)


@pytest.fixture(scope="module")
def rules() -> NamingRules:
    return load_rules()


@pytest.fixture(scope="module")
def book_title_rules(rules: NamingRules) -> NamingRules:
    normalization = rules.title_subtitle_normalization.model_copy(
        update={"convention": "book_title"}
    )
    return rules.model_copy(update={"title_subtitle_normalization": normalization})


@pytest.fixture(scope="module")
def arc_rules(rules: NamingRules) -> NamingRules:
    return rules.model_copy(update={"mam_path": MamPathRules(include_arc=True)})


# --------------------------------------------------------------------------- golden cases

# Ported from upstream's tests/golden/naming_{inputs,expected}.json (MIT): id, title, series,
# subtitle -> title_json, title_folder, series, subtitle ("" = dropped, None = there was none).
# Deliberately different (docs/naming-parity.md): a preserved entry protects its own text
# only, so the two preserve_exact cases lose "Vol. 1" in folders and the generic subtitle.
GOLDEN = [
    ("light_novel_title_1", "Overlord (Light Novel), Vol. 3", "Overlord (Light Novel)",
     "Light Novel", "Overlord, Vol. 3", "Overlord", "Overlord", ""),
    ("light_novel_title_2", "Mushoku Tensei: Jobless Reincarnation, Vol. 17",
     "Mushoku Tensei: Jobless Reincarnation", "Light Novel",
     "Mushoku Tensei: Jobless Reincarnation, Vol. 17", "Mushoku Tensei: Jobless Reincarnation",
     "Mushoku Tensei: Jobless Reincarnation", ""),
    ("litrpg_genre_tag", "Dungeon Crawler Carl: A LitRPG Adventure", "Dungeon Crawler Carl", None,
     "Dungeon Crawler Carl", "Dungeon Crawler Carl", "Dungeon Crawler Carl", None),
    ("series_suffix", "A Most Unlikely Hero, Book 1", "A Most Unlikely Hero Series", None,
     "A Most Unlikely Hero", "A Most Unlikely Hero", "A Most Unlikely Hero", None),
    ("trilogy_suffix", "The Lord of the Rings", "The Lord of the Rings Trilogy", None,
     "The Lord of the Rings", "The Lord of the Rings", "The Lord of the Rings", None),
    ("preserve_exact_rezero", "Re:ZERO -Starting Life in Another World-, Vol. 1",
     "Re:ZERO -Starting Life in Another World-", "Light Novel",
     "Re:ZERO -Starting Life in Another World-, Vol. 1",
     "Re:ZERO -Starting Life in Another World-",
     "Re:ZERO -Starting Life in Another World-", ""),
    ("preserve_exact_86", "86--EIGHTY-SIX, Vol. 1", "86--EIGHTY-SIX", "Light Novel",
     "86--EIGHTY-SIX, Vol. 1", "86--EIGHTY-SIX", "86--EIGHTY-SIX", ""),
    ("publisher_tag", "Sword Art Online [Yen Audio], Vol. 1", "Sword Art Online", None,
     "Sword Art Online, Vol. 1", "Sword Art Online", "Sword Art Online", None),
    ("multiple_indicators", "Kuma Kuma Kuma Bear (Light Novel) (Unabridged), Vol. 5",
     "Kuma Kuma Kuma Bear (Light Novel)", "Light Novel",
     "Kuma Kuma Kuma Bear, Vol. 5", "Kuma Kuma Kuma Bear", "Kuma Kuma Kuma Bear", ""),
    ("progression_fantasy", "Cradle: A Progression Fantasy", "Cradle", "A Progression Fantasy",
     "Cradle", "Cradle", "Cradle", ""),
    ("book_number_format", "The Wandering Inn, Book 1", "The Wandering Inn",
     "The Wandering Inn, Book 1", "The Wandering Inn", "The Wandering Inn", "The Wandering Inn",
     ""),
    ("volume_full_word", "Spice and Wolf, Volume 12", "Spice and Wolf", None,
     "Spice and Wolf, Volume 12", "Spice and Wolf", "Spice and Wolf", None),
    ("japanese_author", "Test Book", None, None, "Test Book", "Test Book", None, None),
    ("clean_title", "Project Hail Mary", None, None,
     "Project Hail Mary", "Project Hail Mary", None, None),
    ("redundant_subtitle", "He Who Fights with Monsters 11", "He Who Fights with Monsters",
     "He Who Fights with Monsters, Book 11", "He Who Fights with Monsters 11",
     "He Who Fights with Monsters 11", "He Who Fights with Monsters", ""),
    ("meaningful_subtitle", "Sword Art Online, Vol. 1", "Sword Art Online", "Aincrad",
     "Sword Art Online, Vol. 1", "Sword Art Online", "Sword Art Online", "Aincrad"),
    ("unabridged_in_title", "The Way of Kings (Unabridged)", "The Stormlight Archive", None,
     "The Way of Kings", "The Way of Kings", "The Stormlight Archive", None),
    ("double_dash_cleanup", "Title - (Light Novel) - Subtitle", None, None,
     "Title - Subtitle", "Title - Subtitle", None, None),
    ("saga_suffix", "The Inheritance Cycle", "The Inheritance Saga", None,
     "The Inheritance Cycle", "The Inheritance Cycle", "The Inheritance", None),
    ("chronicles_suffix", "The Spellmonger", "The Spellmonger Chronicles", None,
     "The Spellmonger", "The Spellmonger", "The Spellmonger", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "series", "subtitle", "title_json", "title_folder", "series_out", "subtitle_out"),
    [case[1:] for case in GOLDEN],
    ids=[case[0] for case in GOLDEN],
)
def test_golden_cleaning(
    rules, title, series, subtitle, title_json, title_folder, series_out, subtitle_out
):
    assert clean_title(title, rules, for_folder=False) == title_json
    assert clean_title(title, rules, for_folder=True) == title_folder
    cleaned_series = clean_series(series, rules, title=title) if series is not None else None
    assert cleaned_series == series_out
    assert clean_subtitle(subtitle, rules, series=series, title=title) == subtitle_out


def test_golden_japanese_author(rules):
    assert romanize("理不尽な孫の手", rules) == "Rifujin na Magonote"


def test_golden_case_count():
    assert len(GOLDEN) == 20  # the japanese_author case's author is checked just above


# --------------------------------------------------------------------------- full folder names


def sample(title, series=None, position=None, *, year, author, subtitle=""):
    refs = [SeriesRef(name=series, position=position)] if series else []
    return BookInfo(title=title, subtitle=subtitle, series=refs, year=year, authors=[author])


# Observed upstream with tag H2OKing: (asin, book, include_arc) -> folder, len(folder/file).
FOLDERS = [
    ("B003ZWFO7E", sample("The Way of Kings", "The Stormlight Archive", "1", year="2010",
     author="Brandon Sanderson"), False,
     "The Stormlight Archive vol_01 (2010) (Brandon Sanderson) {ASIN.B003ZWFO7E} [H2OKing]", 163),
    ("B08G9PRS1K", sample("Project Hail Mary", year="2021", author="Andy Weir"), False,
     "Project Hail Mary (2021) (Andy Weir) {ASIN.B08G9PRS1K} [H2OKing]", 123),
    ("B0ASINSAO9", sample("Sword Art Online 9", "Sword Art Online", "9", year="2020",
     author="Reki Kawahara", subtitle="Alicization Beginning"), True,
     "Sword Art Online vol_09 Alicization Beginning (2020) (Reki Kawahara) {ASIN.B0ASINSAO9} "
     "[H2OKing]", 187),
    ("B0ASINOVL3", sample("Overlord, Vol. 3", "Overlord (Light Novel)", "3", year="2021",
     author="Kugane Maruyama"), False,
     "Overlord vol_03 (2021) (Kugane Maruyama) {ASIN.B0ASINOVL3} [H2OKing]", 131),
    ("B0ASINREZ1", sample("Re:ZERO -Starting Life in Another World-, Vol. 1",
     "Re:ZERO -Starting Life in Another World-", "1", year="2016", author="Tappei Nagatsuki"),
     False,
     "Re -ZERO -Starting Life in Another World vol_01 (2016) (Tappei Nagatsuki) "
     "{ASIN.B0ASINREZ1} [H2OKing]", 197),
    ("B0ASINOLD1", sample("Old Man's War 1.5", "Old Man's War", "1.5", year="2008",
     author="John Scalzi"), False,
     "Old Man's War vol_01.5 (2008) (John Scalzi) {ASIN.B0ASINOLD1} [H2OKing]", None),
    ("B0ASINEMP1", sample("Onyx Storm, Part 1", "The Empyrean", "1p1", year="2025",
     author="Rebecca Yarros"), False,
     "The Empyrean vol_01p1 (2025) (Rebecca Yarros) {ASIN.B0ASINEMP1} [H2OKing]", None),
    ("B0ASININC1", sample("Incubus Books 1-3", "Incubus", "1-3", year="2019",
     author="A. Writer"), False,
     "Incubus vol_01-03 (2019) (A. Writer) {ASIN.B0ASININC1} [H2OKing]", None),
    ("B0ASINGRC1", sample("The Great Cleric: Volume 1", "Great Cleric", "1", year="2023",
     author="Broccoli Lion"), False,
     "The Great Cleric vol_01 (2023) (Broccoli Lion) {ASIN.B0ASINGRC1} [H2OKing]", 143),
    ("B09EXAMPLE1", sample("The Haunted Bookstore - Gateway to a Parallel Universe: Volume 1",
     "Haunted Bookstore - Gateway to a Parallel Universe", "1", year="2022", author="Shinobumaru",
     subtitle="The Spirit Daughter and the Spirit Realm of Endless Tea Parties and More"), True,
     "The Haunted Bookstore - Gateway to a Parallel Universe vol_01 (2022) (Shinobumaru) "
     "{ASIN.B09EXAMPLE1} [H2OKing]", 217),
    ("B0LONGLONG", sample("Long", "A" * 150, "2", year="2022", author="Some Author"), False,
     "A" * 77 + "... vol_02 {ASIN.B0LONGLONG} [H2OKing]", 225),
]  # fmt: skip


@pytest.mark.parametrize(
    ("asin", "book", "with_arc", "folder", "length"),
    FOLDERS,
    ids=[f[3][:30] for f in FOLDERS],
)
def test_full_folder_names(rules, arc_rules, asin, book, with_arc, folder, length):
    chosen = arc_rules if with_arc else rules
    result = mam_names(asin, book, ["Book.m4b"], chosen, tag="H2OKing", limit=225)
    assert result.folder == folder
    assert result.files == {"Book.m4b": folder.removesuffix(" [H2OKing]") + ".m4b"}
    if length is not None:
        assert result.longest == length
    assert result.longest <= 225


def test_budget_drops_in_order_and_records_it(rules, arc_rules):
    haunted = FOLDERS[9][1]
    result = mam_names("B09EXAMPLE1", haunted, ["a.m4b"], arc_rules, tag="H2OKing")
    assert result.dropped == ["arc"] and not result.truncated
    long = FOLDERS[-1][1]
    result = mam_names("B0LONGLONG", long, ["a.m4b"], rules, tag="H2OKing")
    assert result.dropped == ["author", "year"] and result.truncated
    assert result.longest == 225


def test_no_tag_gives_more_room_and_no_brackets(rules):
    result = mam_names("B0LONGLONG", FOLDERS[-1][1], ["a.m4b"], rules, tag="")
    assert result.folder == result.base and not result.folder.endswith("]")
    assert result.longest <= 225
    assert len(result.base) == 110  # floor((225 - 1 - 4) / 2)


def test_configurable_limit_and_drop_order(rules):
    book = sample("Some Long Standalone Title", year="2020", author="An Author With A Long Name")
    custom = rules.model_copy(update={"mam_path": MamPathRules(drop_priority=["year", "author"])})
    result = mam_names("B0AAAAAAAA", book, ["a.m4b"], custom, tag="T", limit=160)
    assert result.dropped == ["year"]
    assert result.folder == (
        "Some Long Standalone Title (An Author With A Long Name) {ASIN.B0AAAAAAAA} [T]"
    )
    assert result.longest <= 160


def test_asin_and_volume_are_never_dropped(rules):
    book = sample("x", "S" * 300, "12", year="2020", author="A" * 100)
    result = mam_names("B0AAAAAAAA", book, ["a.m4b"], rules, tag="Tag", limit=80)
    assert "vol_12" in result.folder and "{ASIN.B0AAAAAAAA}" in result.folder
    assert result.longest <= 80


def test_impossible_limit_is_a_clear_error(rules):
    parts = NameParts(asin="B0AAAAAAAA", head="Head", volume="vol_01")
    with pytest.raises(InputError, match="path limit") as info:
        build_mam_path(parts, ["a.m4b"], tag="X" * 40, limit=80)
    assert "MAMFAST_PATH_LIMIT" in info.value.hint


# --------------------------------------------------------------------------- files in the folder


def test_multi_part_books_get_fixed_width_part_numbers():
    files = [f"Book {i}.mp3" for i in (1, 2, 10, 3)] + ["Book 2.cue", "cover.jpg"]
    suffixes = file_suffixes(files)
    assert suffixes["Book 1.mp3"] == " - Part 01.mp3"
    assert suffixes["Book 3.mp3"] == " - Part 03.mp3"
    assert suffixes["Book 10.mp3"] == " - Part 04.mp3"  # natural order, not text order
    assert suffixes["Book 2.cue"] == " - Part 02.cue"  # follows its audio file
    assert suffixes["cover.jpg"] == ".jpg"
    assert len(set(suffixes.values())) == len(files)


def test_part_width_grows_past_99():
    suffixes = file_suffixes([f"{i:03d}.mp3" for i in range(1, 121)])
    assert suffixes["001.mp3"] == " - Part 001.mp3"
    assert suffixes["120.mp3"] == " - Part 120.mp3"


def test_two_covers_and_mixed_case_extensions_do_not_collide():
    suffixes = file_suffixes(["back.jpg", "Cover.JPG", "book.m4b", "scan.jpeg", "extra.pdf"])
    assert suffixes["Cover.JPG"] == ".jpg"  # covers first, extension lower-cased
    assert suffixes["back.jpg"] == " - 2.jpg"
    assert suffixes["scan.jpeg"] == ".jpeg"
    assert suffixes["book.m4b"] == ".m4b"
    assert len({s.casefold() for s in suffixes.values()}) == 5


def test_budget_counts_the_longest_file_name(rules):
    book = sample("T" * 200, year="2020", author="Author")
    files = [f"{i}.mp3" for i in range(1, 13)] + ["cover.jpeg"]
    result = mam_names("B0AAAAAAAA", book, files, rules, tag="H2OKing")
    assert max(len(p) for p in result.relative_paths) == result.longest <= 225
    assert result.files["12.mp3"].endswith(" - Part 12.mp3")


# --------------------------------------------------------------------------- hostile metadata


@pytest.mark.parametrize(
    "title",
    [
        "../../etc/passwd",
        "a/b\\c|d",
        "nul\x00in\x00title",
        "CON",
        "trailing dots...",
        "...",
        "  spaced   out  ",
        "emoji 🎧📚 title",
        "كتاب عربي \u202etxt.exe",
        "line\nbreak\ttab",
        'q"u<o>t?e*s:',
    ],
)
def test_hostile_titles_make_safe_names(rules, title):
    result = mam_names("B0AAAAAAAA", sample(title, year="2020", author="A"), ["x.m4b"], rules)
    for name in (result.folder, *result.files.values()):
        pathvalidate.validate_filename(name, platform="universal")
        assert "/" not in name and "\x00" not in name and ".." not in name.split(" ")[0]
        assert not name.endswith((".", " "))
        assert "\u202e" not in name
    assert result.folder.endswith("{ASIN.B0AAAAAAAA}")


def test_sanitize_map():
    assert sanitize_component("Re:ZERO") == "Re -ZERO"
    assert sanitize_component('a/b\\c|d"e<f>g?h*i') == "a-b-c-d'efghi"
    assert sanitize_component("../..") == ""
    assert sanitize_component("World-") == "World"
    assert sanitize_component("emoji 🎧") == "emoji 🎧"
    assert sanitize_component("עברית") == "עברית"


def test_400_character_titles_fit_in_characters_and_bytes(rules):
    for title in ("word " * 80, "漢字" * 200, "🎧" * 400):
        book = sample(title, year="2020", author="著者")
        result = mam_names("B0AAAAAAAA", book, ["x.m4b", "cover.jpg"], rules, tag="H2OKing")
        assert result.truncated
        assert result.longest <= 225
        for name in (result.folder, *result.files.values()):
            assert len(name.encode()) <= 255  # one path component on Linux filesystems
        assert result.folder.split(" {ASIN")[0].endswith("...") or "..." in result.folder


def test_word_boundary_cut(rules):
    book = sample("The Quick Brown Fox " * 20, year="2020", author="A")
    result = mam_names("B0AAAAAAAA", book, ["x.m4b"], rules, tag="T")
    head = result.base.split("...")[0]
    assert not head.endswith(" ") and head.split(" ")[-1] in {"The", "Quick", "Brown", "Fox"}


# --------------------------------------------------------------------------- other cleaning


def test_genre_tags_only_where_they_close_a_title(rules):
    assert clean_title("A Novel Idea", rules, for_folder=True) == "A Novel Idea"
    assert clean_title("Mind Games: A Thriller", rules, for_folder=True) == "Mind Games"
    assert clean_title("Title (A LitRPG Adventure)", rules, for_folder=True) == "Title"
    assert clean_title("A Novel", rules, for_folder=True) == "A Novel"  # never emptied


def test_book_numbers_and_duplicates(rules):
    assert clean_title("Series, Book XII", rules, for_folder=False) == "Series"
    assert clean_title("The Book Did It", rules, for_folder=False) == "The Book Did It"
    assert clean_title("Title 12 vol_12", rules, for_folder=True) == "Title vol_12"
    assert clean_title("Audiobooks for All", rules, for_folder=True) == "Audiobooks for All"


def test_series_cleaning_extras(rules):
    assert clean_series("Discworld [publication order]", rules) == "Discworld"
    assert clean_series("Foundation (Chronological Order)", rules) == "Foundation"
    assert clean_series("The Miniseries", rules) == "The Miniseries"
    assert clean_series("Series", rules) == "Series"  # never emptied
    assert clean_series("Rising of the Shield Hero", rules, title="The Rising of the Shield Hero 1")
    assert (
        clean_series("Rising of the Shield Hero", rules, title="The Rising of the Shield Hero 1")
        == "The Rising of the Shield Hero"
    )


def test_subtitle_rules(rules):
    assert clean_subtitle("Mother's Rosary", rules, series="Sword Art Online", title="SAO 7") == (
        "Mother's Rosary"
    )
    assert clean_subtitle("Sword Art Online 7", rules, series="Sword Art Online", title="X") == ""
    assert clean_subtitle("Part One", rules, series=None, title="X") == ""
    stripped = clean_subtitle("Arc Name (Saga, Book 2)", rules, series="Saga", title="X")
    assert stripped == "Arc Name"
    assert clean_subtitle("   ", rules, series=None, title="X") == ""
    assert clean_subtitle(None, rules, series=None, title="X") is None


# Ported from upstream's tests/fixtures/audnex_normalization_samples.json (MIT), here with
# MAMFAST_TITLE_CONVENTION=book_title (the book's own name is the title); the default
# convention is covered in test_naming_parity.py. The last case differs on purpose: a title
# that is not "Series N" is never swapped.
NORMALIZATION = [
    ("Alicization Exploding", "Sword Art Online 16", "Sword Art Online", "16",
     "Alicization Exploding", "Sword Art Online 16", "Alicization Exploding", False),
    ("Early Years", "The Beginning After the End, Book 1", "The Beginning After the End", "1",
     "Early Years", "The Beginning After the End, Book 1", "Early Years", False),
    ("Invasion", "Welcome to the Multiverse, Book 7", "Welcome to the Multiverse", "7",
     "Invasion", "Welcome to the Multiverse, Book 7", "Invasion", False),
    ("Sword Art Online 7", "Mother's Rosary", "Sword Art Online", "7",
     "Mother's Rosary", "Sword Art Online 7", "Mother's Rosary", True),
    ("Sword Art Online 14", "Alicization Uniting", "Sword Art Online", "14",
     "Alicization Uniting", "Sword Art Online 14", "Alicization Uniting", True),
    ("Sword Art Online 19", "Moon Cradle", "Sword Art Online", "19",
     "Moon Cradle", "Sword Art Online 19", "Moon Cradle", True),
    ("The Standalone Book", "A Great Adventure", None, None,
     "The Standalone Book", "A Great Adventure", None, False),
    ("Another Book", "Without Series", "", None, "Another Book", "Without Series",
     "Without Series", False),
    ("Sword Art Online: Aincrad", "Sword Art Online, Book 1", "Sword Art Online", "1",
     "Sword Art Online: Aincrad", "Sword Art Online, Book 1", None, False),
    ("Mushoku Tensei: Jobless Reincarnation, Vol. 17", "Light Novel",
     "Mushoku Tensei: Jobless Reincarnation", "17",
     "Mushoku Tensei: Jobless Reincarnation, Vol. 17", "Light Novel", None, False),
    ("The Great Adventure", "Part One", "Adventure Series", "1",
     "The Great Adventure", "Part One", None, False),
    ("Primal Hunter 2", "A LitRPG Adventure", "Primal Hunter", "2",
     "Primal Hunter 2", "A LitRPG Adventure", None, False),
    ("Book 7", "The Real Name", "Some Series", "7",
     "The Real Name", "Book 7", "The Real Name", True),  # the title is only the position
    ("Trapped in a Dating Sim", "The World of Otome Games is Tough for Mobs (Light Novel), Vol. 1",
     "The World of Otome Games is Tough for Mobs", "1", "Trapped in a Dating Sim",
     "The World of Otome Games is Tough for Mobs (Light Novel), Vol. 1",
     "Trapped in a Dating Sim", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "subtitle", "series", "position", "out_title", "out_sub", "arc", "swapped"),
    NORMALIZATION,
    ids=[n[0][:24] for n in NORMALIZATION],
)
def test_normalize_title_subtitle(
    book_title_rules, title, subtitle, series, position, out_title, out_sub, arc, swapped
):
    parts = normalize_title_subtitle(title, subtitle, series, position, book_title_rules)
    assert (parts.title, parts.subtitle, parts.arc, parts.swapped) == (
        out_title,
        out_sub,
        arc,
        swapped,
    )


def test_normalization_can_be_switched_off(rules):
    off = rules.model_copy(
        update={"title_subtitle_normalization": rules.title_subtitle_normalization.model_copy(
            update={"enabled": False})}
    )  # fmt: skip
    parts = normalize_title_subtitle("Sword Art Online 7", "Mother's Rosary", "Sword Art Online",
                                     "7", off)  # fmt: skip
    assert parts.title == "Sword Art Online 7" and not parts.swapped


def test_author_roles(rules):
    names = [
        "Reki Kawahara",
        "abec - illustrator",
        "Stephen Paul - translator",
        "Jane Doe (Editor)",
        "Foreword by Neil Gaiman",
        "Introduction by Somebody",
        "with Co Writer",
        "Translated by Someone",
        "reki kawahara",
        "John Editor",  # a surname, not a role
    ]
    assert filter_author_roles(names, rules) == ["Reki Kawahara", "John Editor"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("理不尽な孫の手", "Rifujin na Magonote"),  # author_map exact
        ("橘　由華", "Tachibana Yuka"),  # full-width space normalised, then mapped
        ("川原 礫", "Kawara Reki"),  # pykakasi Hepburn, Title-Cased
        ("Brandon Sanderson", "Brandon Sanderson"),
        ("Émile Zola", "Émile Zola"),  # not Japanese: unchanged
        ("Лев Толстой", "Лев Толстой"),
    ],
)
def test_romanize(rules, name, expected):
    assert romanize(name, rules) == expected


def test_folder_names_keep_japanese_authors(rules):
    book = sample("本", year="2020", author="川原 礫")
    assert "(川原 礫)" in mam_names("B0AAAAAAAA", book, ["a.m4b"], rules).folder


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("3", "vol_03"),
        ("12", "vol_12"),
        ("1.5", "vol_01.5"),
        ("1-3", "vol_01-03"),
        ("1 – 3", "vol_01-03"),
        ("1p1", "vol_01p1"),
        ("1 part 1", "vol_01p1"),
        ("1_01", "vol_01p1"),
        ("prequel", "vol_00"),
        ("Prologue", "vol_00"),
        ("0", "vol_00"),
        ("omnibus", None),
        ("Book 4", "vol_04"),
        ("#7", "vol_07"),
        ("2.50", "vol_02.5"),
        ("2.0", "vol_02"),
        ("100", "vol_100"),
        ("side story", None),
        ("", None),
        (None, None),
    ],
)
def test_format_volume(position, expected):
    assert format_volume(position) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Title, Vol. 3 Part 1", "3p1"),
        ("Incubus Books 1-3", "1-3"),
        ("Old Man's War, Vol. 3.5", "3.5"),
        ("The Wandering Inn, Book 3", "3"),
        ("He Who Fights with Monsters 11", "11"),
        ("Project Hail Mary", None),
    ],
)
def test_volume_from_title(title, expected):
    assert volume_from_title(title) == expected


def test_series_from_title():
    assert series_from_title("Mushoku Tensei: Jobless Reincarnation, Vol. 17") == (
        "Mushoku Tensei: Jobless Reincarnation",
        "17",
    )
    assert series_from_title("The Great Cleric: Volume 1") == ("The Great Cleric", "1")
    assert series_from_title("Black Summoner, Volume 4: The Legend Continues") == (
        "Black Summoner",
        "4",
    )
    assert series_from_title("Project Hail Mary") is None


def test_series_without_volume_uses_the_title_form(rules):
    book = sample("The Title", "Some Series", None, year="2020", author="A")
    assert mam_names("B0AAAAAAAA", book, ["a.m4b"], rules).folder.startswith("The Title (2020)")


def test_volume_falls_back_to_the_title(rules):
    book = sample("Some Series, Book 4", "Some Series", None, year="2020", author="A")
    assert mam_names("B0AAAAAAAA", book, ["a.m4b"], rules).folder.startswith("Some vol_04")


# --------------------------------------------------------------------------- rules file


def test_shipped_rules_load_and_cover_every_section(rules):
    raw = json.loads((Path(__file__).parents[1] / "mamfast/data/naming.json").read_text())
    declared = {k for k in raw if not k.startswith("_")}
    assert declared <= set(NamingRules.model_fields)
    assert rules.author_map["理不尽な孫の手"] == "Rifujin na Magonote"
    assert "_comment" not in rules.author_map
    assert rules.mam_path.drop_priority == ["arc", "author", "year"]


def test_user_rules_override_the_shipped_file(tmp_path, rules):
    custom = rules.model_dump(by_alias=True)
    custom["genre_tags"] = {"phrases": ["A Cozy Mystery"]}
    custom["preserve_exact"]["titles"].append("Keep: Me (Unabridged)")
    path = tmp_path / "naming.json"
    path.write_text(json.dumps(custom), encoding="utf-8")
    mine = load_rules(path)
    assert clean_title("Murder: A Cozy Mystery", mine, for_folder=True) == "Murder"
    assert clean_title("Keep: Me (Unabridged)", mine, for_folder=True) == "Keep: Me (Unabridged)"
    assert clean_title("Murder: A Cozy Mystery", rules, for_folder=True) == "Murder: A Cozy Mystery"


def test_phrase_sections_accept_bare_lists(tmp_path):
    path = tmp_path / "naming.json"
    path.write_text(json.dumps({"publisher_tags": ["[Acme Audio]"]}), encoding="utf-8")
    assert clean_title("Book [Acme Audio]", load_rules(path), for_folder=True) == "Book"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"series_suffixes": {"patterns": ["(unclosed"]}}', "not a valid regular expression"),
        ('{"mam_path": {"drop_priority": ["asin"]}}', "mam_path.drop_priority"),
    ],
)
def test_bad_rules_files_are_config_errors(tmp_path, content, message):
    path = tmp_path / "naming.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_rules(path)
    assert str(path) in info.value.message


def test_missing_rules_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read naming rules"):
        load_rules(tmp_path / "nope.json")
