"""The review checklist mirrors MAM's upload-helper checks."""

from __future__ import annotations

from mamfast.clients.mediainfo import AudioInfo
from mamfast.release.bookdata import BookFacts, SeriesEntry
from mamfast.release.mamjson import FastFill, FastFillSeries
from mamfast.release.review import review

AUDIO = AudioInfo(
    files=["a.m4b"], duration_s=36000, container="M4B", format="MPEG-4", codec="AAC LC"
)


def fastfill(**overrides: object) -> FastFill:
    values: dict[str, object] = {
        "title": "A Title",
        "subtitle": "",
        "authors": ["Ann Author"],
        "narrators": ["Ned Narrator"],
        "series": [],
        "description": "[b]x[/b]",
        "thumbnail": "https://img.example/a.jpg",
        "language": "English",
        "category": "Audiobooks - Fantasy",
        "categories": [13],
        "main_cat": 1,
        "mediaType": 1,
        "tags": "Length: 10h 0m | Format: M4B, AAC LC",
        "mediaInfo": "{}",
        "isbn": "ASIN:B000000001",
        "flags": [],
    }
    values.update(overrides)
    return FastFill.model_validate(values)


FACTS = BookFacts(asin="B000000001", source="audnex", raw_title="A Title", title="A Title")


def test_a_complete_record_has_nothing_to_review():
    result = review(fastfill(), FACTS, AUDIO)
    assert result.sentences == []


def test_blocking_gaps_come_first():
    result = review(
        fastfill(thumbnail="", authors=[], category="", categories=[], tags=""),
        FACTS,
        AUDIO,
        cover_file="cover.jpg",
    )
    assert result.blocking == [
        "No cover URL: upload the cover image on the form (cover.jpg is in the release folder).",
        "No author: add the author(s) on the form.",
        "No audiobook category (the old single category): pick one on the form.",
        "No MAM category matched the book's genres: tick at least one on the form.",
        "The tags are empty: add length, release date and format.",
    ]
    assert result.sentences[: len(result.blocking)] == result.blocking


def test_upload_helper_warnings():
    result = review(
        fastfill(
            title="Dark Hollow: A Thriller Novel",
            authors=["JRR Tolkien"],
            narrators=[],
            series=[FastFillSeries(name="The Dark Hollow Series", number="1")],
            tags="Length: 1h | Format: M4B |",
            flags=["sSex"],
        ),
        FACTS.model_copy(update={"runtime_minutes": 300.0, "series": [SeriesEntry(name="x")]}),
        AUDIO,
    )
    text = " ".join(result.checks)
    assert result.blocking == []
    assert "No narrator is listed" in text
    assert "The author 'JRR Tolkien' has initials run together" in text
    assert "The title may include a reading line ('A Thriller Novel')" in text
    assert "The series name 'The Dark Hollow Series' looks like a reading line" in text
    assert "The tags start or end with a separator" in text
    assert "Audible marks this book as adult" in text
    assert "The files last 10h 0m but Audible lists 5h 0m" in text


def test_libation_fallback_and_guessed_series_are_called_out():
    facts = FACTS.model_copy(
        update={
            "source": "libation",
            "series": [SeriesEntry(name="Spice and Wolf", number="12")],
            "series_guessed": True,
        }
    )
    checks = review(fastfill(), facts, AUDIO, audnex_problem="not found in us").checks
    assert checks[0].startswith("Audnex could not help (not found in us)")
    assert "The series 'Spice and Wolf' #12 was read from the title: check it." in checks
