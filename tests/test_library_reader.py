"""One Libation reader: `mamfast mamjson PATH` and the pipeline read a folder the same way.

Before, the metadata commands had a reader of their own: they ignored
Audiobookshelf's `metadata.json`, took an ASIN from any file name, and knew
nothing of Libation's Author/Series/Book layout, so `mamfast mamjson PATH`
could describe another book (or the same one otherwise) than the release the
pipeline made of that folder. Also pinned: one audio extension list, one
natural sort, and a scan cache written through the atomic writer.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from mamfast.cli.metadata_cmds import read_release
from mamfast.config import Settings
from mamfast.library import names, selection
from mamfast.library.book import Candidate
from mamfast.library.cache import CACHE_NAME, CACHE_VERSION
from mamfast.library.discovery import discover
from mamfast.release import naming
from tests.support.library import age, audible, book

AUDIO = Path(__file__).resolve().parent / "fixtures" / "audio"
MAMFAST = str(Path(sys.executable).with_name("mamfast"))


def libation_layout(library: Path) -> dict[str, Path]:
    """Folders on which the two readers used to disagree, by what each one tests."""
    folders = {
        # Libation's dump in Author/Series/Book.
        "libation": book(
            library / "Brandon Sanderson/The Stormlight Archive/The Way of Kings {ASIN.B003ZWFO7E}",
            ["The Way of Kings.m4b", "cover.jpg"],
            metadata=audible(
                "B003ZWFO7E",
                "The Way of Kings",
                authors=["Brandon Sanderson"],
                series=("The Stormlight Archive", "1"),
            ),
        ),
        # Audiobookshelf's metadata.json names one ASIN, the folder name another.
        "audiobookshelf": book(
            library / "Broccoli Lion/The Great Cleric {ASIN.B0FOLDER02}",
            ["a.m4b"],
            metadata={
                "title": "The Great Cleric: Volume 1",
                "authors": ["Broccoli Lion"],
                "series": ["Great Cleric #1"],
                "publishedYear": "2023",
                "asin": "B0CLERIC01",
            },
            metadata_name="metadata.json",
        ),
        # Folder name and Libation's metadata disagree on ASIN, title, year and author.
        "disagree": book(
            library / "Someone/Folder Title (1999) (Folder Author) {ASIN.B0FOLDER01}",
            ["b.m4b"],
            metadata=audible(
                "B0METADATA",
                "Metadata Title",
                authors=["Metadata Author"],
                release_date="2021-02-03",
            ),
        ),
        # No metadata at all: the layout names the author and the series.
        "layout": book(
            library / "Terry Pratchett/Discworld/Guards! Guards! {ASIN.B0GUARDS01}",
            ["Guards! Guards! - Part 2.mp3", "Guards! Guards! - Part 10.mp3"],
        ),
        # No metadata, a title that names its series.
        "title": book(
            library / "Mushoku Tensei: Jobless Reincarnation, Vol. 17 [B0MUSHOKU1]", ["a.m4b"]
        ),
    }
    age(library)
    return folders


def by_folder(settings: Settings) -> dict[Path, Candidate]:
    report = discover(settings)
    assert not report.rejects and not report.duplicates
    return {c.source_dir: c for c in report.releases}


def test_mamjson_reads_every_folder_as_discovery_does(settings: Settings) -> None:
    assert settings.library_dir is not None
    folders = libation_layout(settings.library_dir)
    scanned = by_folder(settings)
    for what, folder in folders.items():
        candidate = scanned[folder.resolve()]
        asin, book_info, warnings = read_release(folder, settings)
        assert (asin, book_info, warnings) == (
            candidate.asin,
            candidate.book,
            candidate.warnings,
        ), what
    chosen = {what: scanned[folder.resolve()] for what, folder in folders.items()}
    assert chosen["audiobookshelf"].asin == "B0CLERIC01"  # the CLI took the folder's B0FOLDER02
    assert chosen["audiobookshelf"].asin_source == "metadata"
    assert chosen["disagree"].asin == "B0METADATA"
    assert chosen["disagree"].book.title == "Metadata Title"
    assert chosen["disagree"].book.authors == ["Metadata Author"]
    assert chosen["disagree"].book.year == "2021"
    assert any("folder name says B0FOLDER01" in w for w in chosen["disagree"].warnings)
    layout = chosen["layout"].book
    assert layout.authors == ["Terry Pratchett"]  # the CLI had no author
    assert [s.name for s in layout.series] == ["Discworld"]  # ... and no series
    assert chosen["layout"].asin == "B0GUARDS01"
    assert chosen["title"].book.series[0].name == "Mushoku Tensei: Jobless Reincarnation"


def test_one_audio_file_is_read_in_its_folder(settings: Settings) -> None:
    assert settings.library_dir is not None
    folder = libation_layout(settings.library_dir)["layout"]
    asin, book_info, _ = read_release(folder / "Guards! Guards! - Part 2.mp3", settings)
    assert asin == "B0GUARDS01"
    assert book_info == by_folder(settings)[folder.resolve()].book


def test_a_folder_discovery_rejects_is_refused_with_its_reason(settings: Settings) -> None:
    from mamfast.errors import InputError

    assert settings.library_dir is not None
    folder = book(settings.library_dir / "Broken {ASIN.B0BROKEN01}", ["a.m4b"], metadata="{")
    age(settings.library_dir)
    (reject,) = discover(settings).rejects
    with pytest.raises(InputError) as caught:
        read_release(folder, settings)
    assert reject.reason in caught.value.message  # before: a warning, then the folder's ASIN


async def test_mamjson_command_chooses_the_pipelines_asin(tmp_path: Path, settings: Settings):
    assert settings.library_dir is not None
    folder = libation_layout(settings.library_dir)["audiobookshelf"]
    shutil.copyfile(AUDIO / "book.m4b", folder / "a.m4b")
    age(settings.library_dir)
    candidate = by_folder(settings)[folder.resolve()]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAMFAST_")}
    env = {
        **clean,
        "MAMFAST_LIBRARY_DIR": str(settings.library_dir),
        "MAMFAST_DATA_DIR": str(tmp_path / "cli-data"),
        "MAMFAST_AUDNEX_URL": "http://127.0.0.1:9",
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        MAMFAST,
        "mamjson",
        str(folder),
        "--no-audnex",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    data = json.loads(out)
    assert data["isbn"] == f"ASIN:{candidate.asin}" == "ASIN:B0CLERIC01"
    assert data["series"] == [{"name": "The Great Cleric", "number": "1"}]
    assert "folder name says B0FOLDER02" in err.decode()


def test_one_audio_extension_list_and_one_natural_sort(tmp_path: Path) -> None:
    assert naming.AUDIO_EXTENSIONS is selection.AUDIO_EXTENSIONS
    assert naming.natural_key is selection.natural_key
    assert naming.series_from_title is names.series_from_title
    files = ["part 10.mp3", "PART 1.mp3", "Part 2.mp3", "Straße 3.cue", "cover.jpg"]
    chosen = selection.select_files(files, [".mp3", ".cue", ".jpg"])
    assert chosen.audio == ["PART 1.mp3", "Part 2.mp3", "part 10.mp3"]
    # the MAM names number the parts in the order discovery chose them
    suffixes = naming.file_suffixes(chosen.files)
    assert [suffixes[name] for name in chosen.audio] == [
        " - Part 01.mp3",
        " - Part 02.mp3",
        " - Part 03.mp3",
    ]
    assert selection.natural_key("STRASSE 2") == selection.natural_key("straße 2")  # casefold
    # the metadata stage probes the files discovery chose: one format, in reading order
    for name in ["b 10.m4b", "b 9.m4b", "b.mp3", "b.flac", ".hidden.m4b"]:
        (tmp_path / name).write_bytes(b"x")
    picked = selection.book_audio(tmp_path, [".m4b", ".mp3"])
    assert [p.name for p in picked] == ["b 9.m4b", "b 10.m4b"]


def test_the_scan_cache_is_written_atomically(settings: Settings) -> None:
    assert settings.library_dir is not None
    libation_layout(settings.library_dir)
    cache = settings.data_dir / CACHE_NAME
    first = discover(settings)
    assert cache.is_file() and sorted(p.name for p in settings.data_dir.iterdir()) == [CACHE_NAME]
    assert json.loads(cache.read_text())["version"] == CACHE_VERSION
    assert discover(settings).stats.from_cache == len(first.releases)
    # A cache that cannot be written costs time, never the scan.
    cache.unlink()
    cache.mkdir()
    (cache / "keep").write_text("x")
    assert discover(settings).releases == first.releases
