"""Discovery over a Libation-shaped library: candidates, reasons, settling, duplicates, cache."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from mamfast.asin import valid_asin
from mamfast.config import Settings
from mamfast.errors import ConfigError
from mamfast.library.book import Candidate
from mamfast.library.discovery import discover
from mamfast.library.names import parse_folder_name
from mamfast.library.report import DiscoveryReport
from mamfast.library.selection import select_files
from tests.conftest import make_settings
from tests.support.library import age, audible, book, snapshot, way_of_kings

STORMLIGHT = (
    "Brandon Sanderson/The Stormlight Archive/"
    "The Way of Kings vol_01 (2010) (Brandon Sanderson) {ASIN.B003ZWFO7E}"
)


@pytest.fixture
def library(settings: Settings) -> Path:
    root = settings.library_dir
    assert root is not None
    # Author/Series/Book with Libation's metadata dump, an m4b and a cover.
    book(
        root / STORMLIGHT,
        ["The Way of Kings.m4b", "cover.jpg", "The Way of Kings.pdf", "notes.txt"],
        metadata=way_of_kings(),
    )
    # Author/Book, ASIN only in the folder name as Libation's default "[X]".
    book(root / "Andy Weir/Project Hail Mary [B08G9PRS1K]", ["Project Hail Mary.m4b"])
    # A book folder at the top level.
    book(root / "Dune (1965) (Frank Herbert) {ASIN.B002V1OF70}", ["Dune.m4b", "cover.jpg"])
    # A multi-part mp3 book in a series folder, metadata without series: the folder names it.
    book(
        root / "Terry Pratchett/Discworld/Guards! Guards! vol_08 [ASIN.B0MP3BOOK1]",
        [f"Guards! Guards! - Part {i}.mp3" for i in range(1, 13)] + ["cover.jpg"],
        metadata=audible("B0MP3BOOK1", "Guards! Guards!", authors=["Terry Pratchett"]),
    )
    # ASIN only in the audio file name.
    book(root / "Jane Doe/Quiet Book", ["Quiet Book [B0FILEASIN].m4b"])
    # m4a multi-file book.
    book(root / "M4a Author/Parts Book [B0M4APARTS]", ["01.m4a", "02.m4a"])
    age(root)
    return root


@pytest.fixture
def bad_library(library: Path) -> Path:
    book(library / "Nobody/Mystery Book", ["book.m4b"])  # no ASIN anywhere
    book(library / "Nobody/Typo Book {ASIN.B09EXAMPLE1}", ["book.m4b"])  # 11 characters
    book(library / "Broken/Broken Json [B0BROKEN01]", ["a.m4b"], metadata="{not json")
    book(
        library / "Silent/Cover Only {ASIN.B0NOAUDIO1}",
        ["cover.jpg"],
        metadata=audible("B0NOAUDIO1", "Cover Only", authors=["Silent"]),
    )
    book(library / "Locked/Encrypted [B0ENCRYPT1]", ["book.aax"])
    book(library / "Twins/One [B0DUPDUPDU]", ["a.m4b"])
    book(library / "Twins/Two {ASIN.B0DUPDUPDU}", ["b.m4b"])
    age(library)
    return library


def paths(report: DiscoveryReport, library: Path) -> list[str]:
    return [str(c.source_dir.relative_to(library.resolve())) for c in report.releases]


def reasons(report: DiscoveryReport, library: Path) -> dict[str, str]:
    return {str(r.path.relative_to(library.resolve())): r.reason for r in report.rejects}


def by_asin(report: DiscoveryReport) -> dict[str, Candidate]:
    return {c.asin: c for c in report.releases}


def test_libation_layouts_become_candidates(settings, library):
    report = discover(settings)
    assert not report.rejects and not report.settling and not report.duplicates
    assert paths(report, library) == sorted(paths(report, library))  # deterministic order
    found = by_asin(report)
    assert set(found) == {
        "B003ZWFO7E",
        "B08G9PRS1K",
        "B002V1OF70",
        "B0MP3BOOK1",
        "B0FILEASIN",
        "B0M4APARTS",
    }

    kings = found["B003ZWFO7E"]
    assert kings.asin_source == "metadata"
    assert kings.book.title == "The Way of Kings"
    assert kings.book.authors == ["Brandon Sanderson"]
    assert kings.book.narrators == ["A Narrator"]
    assert [(s.name, s.position) for s in kings.book.series] == [("The Stormlight Archive", "1")]
    assert kings.book.year == "2010"
    assert kings.book.metadata_file and kings.book.metadata_file.endswith(".metadata.json")
    assert kings.audio_files == ["The Way of Kings.m4b"]
    assert kings.extra_files == ["cover.jpg", "The Way of Kings.pdf"]  # not .txt, not the dump

    weir = found["B08G9PRS1K"]
    assert (weir.asin_source, weir.book.title, weir.book.authors) == (
        "folder",
        "Project Hail Mary",
        ["Andy Weir"],  # from the author folder
    )
    dune = found["B002V1OF70"]
    assert (dune.book.title, dune.book.year, dune.book.authors) == (
        "Dune",
        "1965",
        ["Frank Herbert"],
    )

    guards = found["B0MP3BOOK1"]
    assert len(guards.audio_files) == 12
    assert guards.audio_files[1] == "Guards! Guards! - Part 2.mp3"  # natural order
    assert [(s.name, s.position) for s in guards.book.series] == [("Discworld", "08")]

    quiet = found["B0FILEASIN"]
    assert quiet.asin_source == "file"
    assert found["B0M4APARTS"].audio_files == ["01.m4a", "02.m4a"]


def test_every_bad_folder_has_a_reason_and_blocks_nothing(settings, bad_library):
    report = discover(settings)
    assert len(report.releases) == 6  # the good ones are all still there
    why = reasons(report, bad_library)
    assert why["Nobody/Mystery Book"].startswith("no ASIN")
    assert "'B09EXAMPLE1' in the folder name" in why["Nobody/Typo Book {ASIN.B09EXAMPLE1}"]
    assert "not valid JSON" in why["Broken/Broken Json [B0BROKEN01]"]
    assert why["Silent/Cover Only {ASIN.B0NOAUDIO1}"].startswith("no audio files")
    assert "decrypt" in why["Locked/Encrypted [B0ENCRYPT1]"]
    assert len(report.duplicates) == 1
    dup = report.duplicates[0]
    assert dup.asin == "B0DUPDUPDU" and len(dup.paths) == 2
    assert "B0DUPDUPDU" not in by_asin(report)
    # everything is JSON-serialisable for `enqueue --json`
    assert json.loads(report.model_dump_json())["duplicates"][0]["asin"] == "B0DUPDUPDU"


def test_to_release(settings, library):
    candidate = by_asin(discover(settings))["B003ZWFO7E"]
    release = candidate.to_release()
    assert (release.asin, release.title, release.author) == (
        "B003ZWFO7E",
        "The Way of Kings",
        "Brandon Sanderson",
    )
    assert release.source_dir == str(candidate.source_dir)
    assert release.book == candidate.book


def test_settling_folders_wait_for_the_next_scan(tmp_path, redis_server, library):
    settings = make_settings(tmp_path, redis_server.url, settle_seconds=120)
    fresh = book(library / "Fresh/New Book [B0FRESH001]", ["new.m4b"])
    report = discover(settings)
    assert [s.path for s in report.settling] == [fresh.resolve()]
    assert 0 < report.settling[0].ready_in_seconds <= 120
    assert "B0FRESH001" not in by_asin(report)
    assert "B003ZWFO7E" in by_asin(report)
    age(fresh)
    assert "B0FRESH001" in by_asin(discover(settings))


def test_rescan_uses_the_cache_and_sees_changes(settings, library):
    first = discover(settings)
    assert first.stats.examined == 6 and first.stats.from_cache == 0
    second = discover(settings)
    assert second.stats.examined == 0 and second.stats.from_cache == 6
    assert second.releases == first.releases

    meta = next((library / STORMLIGHT).glob("*.metadata.json"))
    changed = audible("B003ZWFO7E", "The Way of Kings!", authors=["Brandon Sanderson"])
    meta.write_text(json.dumps(changed))
    age(library / STORMLIGHT)  # only this folder: setting a metadata file's times is a change
    third = discover(settings)
    assert third.stats.examined == 1
    assert by_asin(third)["B003ZWFO7E"].book.title == "The Way of Kings!"


def rewrite_keeping_times(path: Path, data: bytes) -> None:
    """Write `data` in place, then set the old mtime back (as `touch -r` or a sync tool would)."""
    before = path.stat()
    with path.open("r+b") as f:
        f.write(data)
        f.truncate()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_rescan_sees_metadata_edited_in_place_with_size_and_mtime_kept(settings, library):
    """Deep in Author/Series/Book: no folder's mtime changes, the metadata file's ctime does."""
    discover(settings)
    folder = library / STORMLIGHT
    folder_times = [p.stat().st_mtime_ns for p in (folder, folder.parent, folder.parent.parent)]
    meta = next(folder.glob("*.metadata.json"))
    old = meta.read_bytes()
    new = old.replace(b"The Way of Kings", b"The Way of Kingz")
    assert len(new) == len(old) and new != old
    rewrite_keeping_times(meta, new)
    assert [p.stat().st_mtime_ns for p in (folder, folder.parent, folder.parent.parent)] == (
        folder_times
    )
    rescan = discover(settings)
    assert rescan.stats.examined == 1 and rescan.stats.from_cache == 5
    assert by_asin(rescan)["B003ZWFO7E"].book.title == "The Way of Kingz"


def test_rescan_sees_an_audio_part_replaced_by_a_copy_with_the_old_size_and_mtime(
    settings, library
):
    """`cp -p` or rsync over a part: same name, size and mtime, another inode."""
    discover(settings)
    folder = library / "Terry Pratchett/Discworld/Guards! Guards! vol_08 [ASIN.B0MP3BOOK1]"
    part = folder / "Guards! Guards! - Part 3.mp3"
    before = part.stat()
    replacement = folder / ".incoming"
    replacement.write_bytes(b"x" * before.st_size)
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    replacement.replace(part)
    age(folder)  # the rename changed the folder's mtime; set it back to show the inode counts
    assert part.stat().st_ino != before.st_ino
    rescan = discover(settings)
    assert rescan.stats.examined == 1 and rescan.stats.from_cache == 5


def test_rescan_keeps_the_cache_for_what_does_not_change_a_reading(settings, library):
    """Not noticed, by design: audio rewritten in place with size and mtime set back (its
    bytes are no part of the reading; hashing reads them), and files in a book folder's
    subfolders (not part of the book's reading). Staging's hardlinks are no change either."""
    discover(settings)
    dune = library / "Dune (1965) (Frank Herbert) {ASIN.B002V1OF70}"
    audio = dune / "Dune.m4b"
    rewrite_keeping_times(audio, bytes(reversed(audio.read_bytes())))
    extras = dune / "Extras"
    extras.mkdir()
    (extras / "map.pdf").write_bytes(b"map")
    age(dune)
    os.link(dune / "cover.jpg", settings.data_dir / "linked-cover.jpg")  # as staging does
    rewrite_keeping_times(extras / "map.pdf", b"new")
    rescan = discover(settings)
    assert rescan.stats.examined == 0 and rescan.stats.from_cache == 6


def test_corrupt_cache_is_rebuilt(settings, library):
    discover(settings)
    (settings.data_dir / "discovery-cache.json").write_text("garbage")
    assert len(discover(settings).releases) == 6


def test_damaged_cache_entries_are_read_again(settings, library):
    """Each is read again: none stops the scan or turns a book into a reject."""
    first = discover(settings)
    path = settings.data_dir / "discovery-cache.json"
    cache = json.loads(path.read_text())
    folders = sorted(cache["entries"])
    entries = cache["entries"]
    entries[folders[0]]["reading"] = '{"asin": 5}'  # damaged: found when the reading is built
    entries[folders[1]] = 5  # not an entry at all
    entries[folders[2]] = {"signature": entries[folders[2]]["signature"]}  # says nothing
    path.write_text(json.dumps(cache))
    again = discover(settings)
    assert again.stats.examined == 3 and again.stats.from_cache == 3
    assert again.releases == first.releases


def test_library_is_never_written(settings, bad_library):
    before = snapshot(bad_library)
    discover(settings)
    discover(settings)
    assert snapshot(bad_library) == before
    assert (settings.data_dir / "discovery-cache.json").is_file()


def test_symlinks_out_of_the_library_are_not_followed(settings, library, tmp_path):
    outside = book(tmp_path / "outside/Secret Book [B0OUTSIDE1]", ["secret.m4b"])
    age(outside.parent)
    (library / "Sneaky").symlink_to(outside.parent, target_is_directory=True)
    leaky = book(library / "Leaky/Leaky Book [B0LEAKY001]", ["cover.jpg"])
    (leaky / "book.m4b").symlink_to(outside / "secret.m4b")
    inside = library / "Alias"
    inside.symlink_to(library / "Andy Weir", target_is_directory=True)
    age(library)
    report = discover(settings)
    why = reasons(report, library)
    assert "outside the library" in why["Sneaky"]
    assert "outside the library" in why["Leaky/Leaky Book [B0LEAKY001]"]
    assert "B0OUTSIDE1" not in by_asin(report) and "B0LEAKY001" not in by_asin(report)
    # a symlink inside the library is followed once, not reported as a duplicate
    assert "B08G9PRS1K" in by_asin(report) and not report.duplicates


def test_scan_depth_and_given_paths(tmp_path, redis_server, library):
    deep = book(library / "A/B/C/D/Too Deep [B0TOODEEP1]", ["x.m4b"])
    age(library)
    settings = make_settings(tmp_path, redis_server.url)
    assert "B0TOODEEP1" not in by_asin(discover(settings))
    deeper = make_settings(tmp_path, redis_server.url, scan_depth=5)
    assert "B0TOODEEP1" in by_asin(discover(deeper))

    only = discover(settings, [library / "Andy Weir"])
    assert list(by_asin(only)) == ["B08G9PRS1K"]
    assert only.releases[0].book.authors == ["Andy Weir"]  # layout read from the library root
    single = discover(settings, [deep])
    assert list(by_asin(single)) == ["B0TOODEEP1"]
    missing = discover(settings, [library / "nope"])
    assert missing.rejects[0].reason == "does not exist or is not a folder"


def test_no_library_configured(tmp_path, redis_server):
    settings = make_settings(tmp_path, redis_server.url).model_copy(update={"library_dir": None})
    with pytest.raises(ConfigError, match="MAMFAST_LIBRARY_DIR"):
        discover(settings)


def test_mixed_formats_stage_one_format_with_a_warning(settings, library):
    book(library / "Mixed/Mixed Book [B0MIXED001]", ["book.m4b", "p1.mp3", "p2.mp3"])
    age(library)
    mixed = by_asin(discover(settings))["B0MIXED001"]
    assert mixed.audio_files == ["book.m4b"]
    assert any("only the .m4b files" in w for w in mixed.warnings)


def test_mp3_not_allowed_is_explained(tmp_path, redis_server, library):
    settings = make_settings(tmp_path, redis_server.url, allowed_extensions=[".m4b", ".jpg"])
    why = reasons(discover(settings), library)
    assert (
        "MAMFAST_ALLOWED_EXTENSIONS"
        in why["Terry Pratchett/Discworld/Guards! Guards! vol_08 [ASIN.B0MP3BOOK1]"]
    )


def test_asin_disagreement_prefers_metadata_and_warns(settings, library):
    book(
        library / "Disagree/Book {ASIN.B0FOLDER01}",
        ["a.m4b"],
        metadata=audible("B0METADATA", "Book", authors=["X"]),
    )
    age(library)
    found = by_asin(discover(settings))
    assert "B0METADATA" in found and "B0FOLDER01" not in found
    assert any("folder name says B0FOLDER01" in w for w in found["B0METADATA"].warnings)


def test_audiobookshelf_metadata_and_series_strings(settings, library):
    abs_item = {
        "title": "The Great Cleric: Volume 1",
        "authors": ["Broccoli Lion"],
        "series": ["Great Cleric #1"],
        "publishedYear": "2023",
        "asin": "B0CLERIC01",
    }
    book(library / "ABS/Cleric", ["a.m4b"], metadata=abs_item, metadata_name="metadata.json")
    age(library)
    cleric = by_asin(discover(settings))["B0CLERIC01"]
    assert [(s.name, s.position) for s in cleric.book.series] == [("Great Cleric", "1")]
    assert cleric.book.year == "2023"


def test_series_from_the_title_when_nothing_else_says(settings, library):
    book(library / "Mushoku Tensei: Jobless Reincarnation, Vol. 17 [B0MUSHOKU1]", ["a.m4b"])
    age(library)
    found = by_asin(discover(settings))["B0MUSHOKU1"]
    assert [(s.name, s.position) for s in found.book.series] == [
        ("Mushoku Tensei: Jobless Reincarnation", "17")
    ]


@pytest.mark.parametrize(
    ("name", "title", "volume", "year", "author", "asin"),
    [
        (
            "The Way of Kings vol_01 (2010) (Brandon Sanderson) {ASIN.B003ZWFO7E} [H2OKing]",
            "The Way of Kings",
            "01",
            "2010",
            "Brandon Sanderson",
            "B003ZWFO7E",
        ),
        ("Project Hail Mary [B08G9PRS1K]", "Project Hail Mary", None, None, None, "B08G9PRS1K"),
        ("Overlord (Light Novel) [ASIN.B0OVERLORD]", "Overlord (Light Novel)", None, None, None,
         "B0OVERLORD"),
        ("Title - vol_1.5 (2001) {ASIN.b0lowercas}", "Title", "1.5", "2001", None, "B0LOWERCAS"),
        ("Just A Folder", "Just A Folder", None, None, None, None),
    ],
)  # fmt: skip
def test_parse_folder_name(name, title, volume, year, author, asin):
    parsed = parse_folder_name(name)
    assert (parsed.title, parsed.volume, parsed.year, parsed.author, parsed.asin) == (
        title,
        volume,
        year,
        author,
        asin,
    )


@pytest.mark.parametrize(
    ("asin", "ok"),
    [
        ("B003ZWFO7E", True),
        ("1549119788", True),
        ("155192370X", True),
        ("B09EXAMPLE1", False),
        ("A003ZWFO7E", False),
        ("B003ZWFO7", False),
        ("", False),
    ],
)
def test_valid_asin(asin, ok):
    assert valid_asin(asin) is ok


def test_select_files_leaves_out_metadata_and_hidden_files():
    selection = select_files(
        ["a.m4b", "a.metadata.json", "metadata.json", ".hidden.jpg", "a.nfo", "a.txt", "c.JPG"],
        [".m4b", ".jpg", ".json", ".txt"],
    )
    assert selection.audio == ["a.m4b"]
    assert selection.extras == ["a.txt", "c.JPG"]  # what the user allowed, never the dumps


def test_unreadable_folder_is_reported(settings, library):
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    locked = library / "Andy Weir"
    locked.chmod(0)
    try:
        why = reasons(discover(settings), library)
    finally:
        locked.chmod(0o755)
    assert "cannot be read" in why["Andy Weir"]


def test_discovery_of_a_large_flat_library_is_quick(settings):
    root = settings.library_dir
    assert root is not None
    for i in range(300):
        book(root / f"Author {i % 30}/Book {i} [B0{i:08d}]", [f"{i}.m4b"])
    age(root)
    started = time.monotonic()
    assert len(discover(settings).releases) == 300
    rescan = time.monotonic()
    assert discover(settings).stats.from_cache == 300
    assert time.monotonic() - rescan < max(1.0, rescan - started)
