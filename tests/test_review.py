"""The review checklist mirrors MAM's upload-helper checks."""

from __future__ import annotations

import pytest

from mamfast.clients.mediainfo import AudioInfo
from mamfast.release.bookdata import BookFacts, SeriesEntry
from mamfast.release.mamjson import FastFill, FastFillSeries
from mamfast.release.review import HAND_FLAGS, honorific, review

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
        "flags": {},
    }
    values.update(overrides)
    return FastFill.model_validate(values)


FACTS = BookFacts(asin="B000000001", source="audnex", raw_title="A Title", title="A Title")


HAND = f"Tick by hand the flags Audible's data cannot tell: {HAND_FLAGS}."


def test_a_complete_record_has_only_the_hand_flags_to_review():
    result = review(fastfill(), FACTS, AUDIO)
    assert result.sentences == [HAND]


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
            flags={"sSex": True},
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


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("Dr. Jane Doe", "Dr."),
        ("Dr Jane Doe", "Dr"),
        ("Sir Terry Pratchett", "Sir"),
        ("Col. David Hunt", "Col."),
        ("Prof. Ann Lee", "Prof."),
        ("Jane Doe, PhD", "PhD"),
        ("Jane Doe, Ph.D.", "Ph.D"),
        ("John Smith MD", "MD"),
        ("John Smith, M.D.", "M.D"),
        ("Drew Barrymore", None),  # a name that starts like a title
        ("Colin Firth", None),
        ("Sirius Black", None),
        ("Ana M.A. Cruz", None),  # initials inside a name are not a degree
        ("Mary Doe", None),
    ],
)
def test_honorifics_in_names(name, found):
    assert honorific(name) == found


def test_honorifics_are_a_review_note_for_authors_and_narrators():
    checks = review(
        fastfill(authors=["Dr. Jane Doe"], narrators=["Sir Ian Reader", "Ned Narrator, PhD"]),
        FACTS,
        AUDIO,
    ).checks
    assert "The author 'Dr. Jane Doe' carries a title or degree (Dr.)" in " ".join(checks)
    assert "The narrator 'Sir Ian Reader' carries a title or degree (Sir)" in " ".join(checks)
    assert "The narrator 'Ned Narrator, PhD' carries a title or degree (PhD)" in " ".join(checks)


@pytest.mark.parametrize(
    ("codec", "codec_id", "says"),
    [
        ("xHE-AAC", "mp4a-40-42", "xHE-AAC (USAC)"),
        ("USAC", "mp4a-40-42", "xHE-AAC (USAC)"),  # told by the codec id alone
        ("E-AC-3 JOC (Dolby Atmos)", "ec-3", "Dolby Atmos (E-AC-3 JOC)"),
        ("E-AC-3", "ec-3", "The audio is E-AC-3,"),
    ],
)
def test_codecs_mam_warns_about(codec, codec_id, says):
    audio = AUDIO.model_copy(update={"codec": codec, "codec_id": codec_id})
    checks = review(fastfill(), FACTS, audio).checks
    assert any(says in c and "many" in c for c in checks), checks


def test_aac_lc_is_not_a_codec_warning():
    audio = AUDIO.model_copy(update={"codec": "AAC LC", "codec_id": "mp4a-40-2"})
    assert review(fastfill(), FACTS, audio).checks == [HAND]


def test_a_language_mam_lacks_is_named():
    checks = review(
        fastfill(language=""), FACTS.model_copy(update={"language": "Old Norse"}), AUDIO
    )
    assert "Audible gives the language 'Old Norse', which is not on MAM's list" in " ".join(
        checks.checks
    )
    unknown = review(fastfill(language=""), FACTS, AUDIO).checks
    assert "The language is unknown: pick it on the form." in unknown
