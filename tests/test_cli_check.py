"""`mamfast check`: likely duplicates and cleaning results worth a look, writing nothing."""

from __future__ import annotations

import json

from mamfast.release.datafile import SHIPPED_DATA
from tests.support.library import age, audible, book, snapshot


def add(library, folder: str, asin: str, title: str, **meta) -> None:
    made = book(
        library / "Author" / folder,
        ["Book.m4b"],
        metadata=audible(asin, title, authors=[meta.pop("author", "Andy Weir")], **meta),
    )
    age(made)


def test_duplicates_and_suspicious_cleaning_are_listed_and_nothing_is_written(
    cli, settings, tmp_path, monkeypatch
):
    library = settings.library_dir
    add(library, "The Martian {ASIN.B0CHK00001}", "B0CHK00001", "The Martian")
    add(library, "The Martian UK {ASIN.B0CHK00002}", "B0CHK00002", "The Martian (Unabridged)")
    add(library, "Copy one {ASIN.B0CHK00003}", "B0CHK00003", "Artemis")
    add(library, "Copy two {ASIN.B0CHK00003}", "B0CHK00003", "Artemis")
    add(
        library,
        "Red Rising {ASIN.B0CHK00004}",
        "B0CHK00004",
        "Red Rising (Red Rising Series, Book 1)",
        author="Pierce Brown",
    )
    add(library, "Skyward {ASIN.B0CHK00005}", "B0CHK00005", "Skyward (Book 1)", author="B S")
    # A user's rule that drops every subtitle starting with "The": too wide.
    rules = json.loads((SHIPPED_DATA / "naming.json").read_text())
    rules["subtitle_redundancy_rules"]["rules"].append(
        {
            "id": "too_wide",
            "description": "drops too much",
            "pattern_template": "^The ",
            "action": "drop_subtitle",
        }
    )
    naming = tmp_path / "naming.json"
    naming.write_text(json.dumps(rules))
    monkeypatch.setenv("MAMFAST_NAMING_FILE", str(naming))
    add(
        library,
        "Hail Mary {ASIN.B0CHK00006}",
        "B0CHK00006",
        "Project Hail Mary",
        subtitle="The Story of a Lonely Astronaut",
    )
    before = snapshot(tmp_path)

    result = cli("check", "--json")
    assert result.exit_code == 1, result.output  # something is listed
    report = json.loads(result.output)
    assert report["books"] == 5  # B0CHK00003 is held back as a duplicate ASIN
    kinds = {(d["kind"], tuple(d["asins"])) for d in report["duplicates"]}
    assert kinds == {("same-asin", ("B0CHK00003",)), ("same-book", ("B0CHK00001", "B0CHK00002"))}
    listed = {(s["asin"], s["field"]): s for s in report["suspicious"]}
    assert set(listed) == {("B0CHK00004", "title"), ("B0CHK00006", "subtitle")}
    red = listed[("B0CHK00004", "title")]
    assert "removed brackets holding digits: (Red Rising Series, Book 1)" in red["reasons"]
    assert "the whole subtitle was removed" in listed[("B0CHK00006", "subtitle")]["reasons"]
    assert snapshot(tmp_path) == before  # no scan cache, nothing else


def test_many_words_removed_is_listed_and_a_clean_library_exits_0(cli, settings):
    library = settings.library_dir
    add(library, "Clean {ASIN.B0CHK00007}", "B0CHK00007", "Project Hail Mary")
    clean = cli("check")
    assert clean.exit_code == 0, clean.output
    assert "1 book(s) checked: 0 likely duplicate(s), 0 cleaning result(s)" in " ".join(
        clean.output.split()
    )
    add(
        library,
        "Long {ASIN.B0CHK00008}",
        "B0CHK00008",
        "Mother of Learning: Arc 2 (A LitRPG Fantasy Adventure Novel Series Book 2)",
    )
    noisy = cli("check", "--max-words", "1")
    assert noisy.exit_code == 1
    text = " ".join(noisy.output.split())
    assert "B0CHK00008 title" in text and "words removed (more than 1)" in text


def test_no_library_is_one_line(cli, settings, tmp_path):
    result = cli("check", "--library", str(tmp_path / "nowhere"))
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_check_needs_no_redis(cli, settings, monkeypatch):
    monkeypatch.setenv("MAMFAST_REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens there
    add(settings.library_dir, "Solo {ASIN.B0CHK00009}", "B0CHK00009", "Solo")
    result = cli("check")
    assert result.exit_code == 0, result.output
