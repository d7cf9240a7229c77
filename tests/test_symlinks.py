"""Symlinks never lead mamfast out of the library, and a missing part never renumbers a book."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mamfast.errors import InputError
from mamfast.library.discovery import discover
from mamfast.models import Release
from mamfast.release.naming import load_rules
from mamfast.stages.staging import stage_release
from tests.support.library import age, audible, book

RULES = load_rules()
PARTS = [f"Guards! Guards! - Part {i}.mp3" for i in (1, 2, 3)]


def outside_book(tmp_path: Path) -> Path:
    """A folder outside the library that looks like a book, plus a private document."""
    folder = book(tmp_path / "outside" / "Private", {"Book.m4b": b"their audio"})
    (folder / "tax-return.pdf").write_bytes(b"private")
    return folder


def seed_entries(settings) -> list[str]:
    seed = settings.seed_folder
    return sorted(os.listdir(seed)) if seed.is_dir() else []


def discovered(settings) -> Release:
    (candidate,) = discover(settings).releases
    return candidate.to_release()


def test_a_book_folder_swapped_for_a_symlink_out_of_the_library_is_not_staged(settings, tmp_path):
    folder = book(
        settings.library_dir / "Author" / "Book {ASIN.B0SWAPPED1}",
        {"Book.m4b": b"audio"},
        metadata=audible("B0SWAPPED1", "Book", authors=["Author"]),
    )
    age(settings.library_dir)
    release = discovered(settings)
    # After the scan, the book folder becomes a symlink to someone else's folder.
    for entry in folder.iterdir():
        entry.unlink()
    folder.rmdir()
    folder.symlink_to(outside_book(tmp_path), target_is_directory=True)

    with pytest.raises(InputError, match="outside the library"):
        stage_release(settings, release, RULES)
    assert seed_entries(settings) == []


def test_a_scan_path_that_is_a_symlink_out_of_the_library_is_rejected(settings, tmp_path):
    link = settings.library_dir / "Author" / "Book {ASIN.B0LINKED01}"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside_book(tmp_path), target_is_directory=True)
    report = discover(settings, [link])
    assert report.releases == []
    assert [r.path for r in report.rejects] == [link]
    assert "outside the library" in report.rejects[0].reason


@pytest.fixture
def three_parts(settings) -> Path:
    folder = book(
        settings.library_dir / "Terry Pratchett" / "Guards! Guards! {ASIN.B0THREEPT1}",
        PARTS,
        metadata=audible("B0THREEPT1", "Guards! Guards!", authors=["Terry Pratchett"]),
    )
    age(settings.library_dir)
    return folder


def break_part(folder: Path, how: str, tmp_path: Path) -> None:
    part = folder / PARTS[1]
    part.unlink()
    if how == "outside":
        part.symlink_to(outside_book(tmp_path) / "Book.m4b")
    else:
        part.symlink_to(folder / "deleted meanwhile.mp3")


@pytest.mark.parametrize("how", ["outside", "broken"])
def test_a_part_swapped_for_a_bad_symlink_stops_staging(settings, three_parts, tmp_path, how):
    release = discovered(settings)
    break_part(three_parts, how, tmp_path)
    with pytest.raises(InputError, match="Part 2") as info:
        stage_release(settings, release, RULES)
    assert "never staged with a part missing" in info.value.message
    assert seed_entries(settings) == []


@pytest.mark.parametrize("how", ["outside", "broken"])
def test_a_scan_rejects_a_book_with_a_bad_symlink_for_a_part(settings, three_parts, tmp_path, how):
    break_part(three_parts, how, tmp_path)
    age(settings.library_dir)
    report = discover(settings)
    assert report.releases == []
    assert [r.path for r in report.rejects] == [three_parts]
    assert "Part 2" in report.rejects[0].reason
