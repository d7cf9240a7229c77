"""Bad input never stops the others: each folder, record and entry is judged alone.

One strange folder name, one damaged record in Redis, one bad field in an
imported state file, or terminal control characters in a title must give that
one item a clear reason and leave every other release untouched.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from mamfast.engine import keys
from mamfast.engine.reconcile import reconcile
from mamfast.engine.stage_job import run_stage
from mamfast.errors import InputError
from mamfast.models import Release, Stage, Status
from mamfast.ops import scheduler
from mamfast.ops.enqueue import enqueue
from mamfast.ops.statefile import EXPORT_FORMAT, import_state
from tests.support.engine_stages import instrumented_pipeline
from tests.support.library import age, audible, book
from tests.support.records import plant_record, record_doc

GOOD = ["B0GOOD0001", "B0GOOD0002", "B0GOOD0003"]


def good_books(library: Path) -> None:
    for asin in GOOD:
        book(
            library / "Author" / f"Book {asin[-1]} {{ASIN.{asin}}}",
            ["Book.m4b"],
            metadata=audible(asin, f"Book {asin[-1]}", authors=["Author"]),
        )


def non_utf8_book(library: Path) -> Path:
    """A folder whose name is not UTF-8 (a Latin-1 download on a Linux share)."""
    folder = os.fsencode(library / "Author") + b"/Caf\xe9 {ASIN.B0LATIN001}"
    os.makedirs(folder)
    with open(folder + b"/Book.m4b", "wb") as audio:
        audio.write(b"audio")
    return Path(os.fsdecode(folder))


def deep_json_book(library: Path) -> Path:
    return book(
        library / "Author" / "Deep {ASIN.B0DEEPJSON}",
        ["Book.m4b"],
        metadata="[" * 100_000 + "]" * 100_000,
    )


# --------------------------------------------------------------------------- 6: one folder


@pytest.mark.parametrize(
    ("make_bad", "reason"),
    [(non_utf8_book, "not valid UTF-8"), (deep_json_book, "nested too deeply")],
    ids=["non-utf8-name", "deep-json"],
)
async def test_a_bad_folder_is_rejected_and_the_others_are_queued(
    make_services, settings, make_bad, reason
):
    res = await make_services(instrumented_pipeline())
    good_books(settings.library_dir)
    bad = make_bad(settings.library_dir)
    age(settings.library_dir)
    report = await enqueue(res.engine)
    assert sorted(r.asin for r in report.releases) == GOOD
    assert {r.outcome for r in report.releases} == {"new"}
    (reject,) = report.discovery.rejects
    assert reject.path == bad and reason in reject.reason
    assert sorted(await res.engine.store.asins()) == GOOD


async def test_the_enqueue_command_prints_a_bad_name_harmlessly(cli, settings):
    good_books(settings.library_dir)
    non_utf8_book(settings.library_dir)
    age(settings.library_dir)
    result = await asyncio.to_thread(cli, "enqueue")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Caf\\xe9 {ASIN.B0LATIN001}" in text and "3 new" in text


async def test_the_scheduler_keeps_scanning_past_a_bad_folder(make_services, settings):
    res = await make_services(instrumented_pipeline())
    good_books(settings.library_dir)
    non_utf8_book(settings.library_dir)
    age(settings.library_dir)
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler.run(res.engine, stop, tick=0.05))
    await asyncio.sleep(1.0)
    assert not loop.done(), loop.exception() if loop.done() else None
    stop.set()
    await asyncio.wait_for(loop, 5)
    assert sorted(await res.engine.store.asins()) == GOOD


# --------------------------------------------------------------------------- 7: one record


async def plant_damaged(redis, asin: str = "B0DAMAGED1") -> None:
    # A stage no version of mamfast has.
    await plant_record(redis, asin, record_doc(asin, title="Damaged", stage="polish"))


async def test_status_lists_a_damaged_record_with_what_to_do(cli, make_services, redis):
    res = await make_services(instrumented_pipeline())
    await res.engine.store.create(Release(asin="B0GOOD0001", title="A good book"))
    await plant_damaged(redis)

    table = await asyncio.to_thread(cli, "status")
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.split())
    assert "B0GOOD0001" in text and "A good book" in text
    assert "damaged" in text and "B0DAMAGED1" in text
    assert "mamfast state forget B0DAMAGED1" in text

    one = await asyncio.to_thread(cli, "status", "B0DAMAGED1")
    assert one.exit_code == 1
    assert "cannot be read" in one.output and "state forget" in " ".join(one.output.split())
    as_json = await asyncio.to_thread(cli, "status", "--json")
    assert as_json.exit_code == 0
    assert [r["asin"] for r in json.loads(as_json.stdout)] == ["B0GOOD0001"]


async def test_the_engine_skips_a_damaged_record_and_serves_the_others(make_services, redis):
    res = await make_services(instrumented_pipeline())
    await plant_damaged(redis)
    await res.engine.store.create(Release(asin="B0GOOD0001"))  # created, but its job was lost
    report = await reconcile(res.engine, grace=0)
    assert report.enqueued == ["B0GOOD0001"]
    outcome = await run_stage(res.engine, res, "B0DAMAGED1", "stage", "mamfast:B0DAMAGED1:stage:1")
    assert outcome == "damaged"
    from mamfast.clients import notify

    await res.redis.rpush(keys.EVENTS, "not json", '{"asin": "B0GOOD0001"}')
    assert await notify.flush(res.engine) == []  # no URLs; nothing raised


async def test_state_forget_drops_only_a_damaged_record(cli, make_services, redis):
    res = await make_services(instrumented_pipeline())
    await res.engine.store.create(Release(asin="B0GOOD0001"))
    await plant_damaged(redis)
    kept = await asyncio.to_thread(cli, "state", "forget", "B0GOOD0001")
    assert kept.exit_code == 1 and "readable" in kept.output
    dropped = await asyncio.to_thread(cli, "state", "forget", "B0DAMAGED1")
    assert dropped.exit_code == 0, dropped.output
    assert await res.engine.store.asins() == ["B0GOOD0001"]
    assert await redis.smembers(keys.ACTIVE) == {b"B0GOOD0001"}  # the damaged one left too


# --------------------------------------------------------------------------- 8: state import


def legacy(**entries: object) -> dict[str, object]:
    return {"version": 2, "processed": entries, "failed": {}}


async def test_a_complete_entry_with_one_bad_optional_field_is_kept(make_services):
    res = await make_services(instrumented_pipeline())
    data = legacy(B0LEGACY01={"title": "Done", "status": "COMPLETE", "processed_at": "not-a-date"})
    report = await import_state(res.engine, data)
    assert report.created == ["B0LEGACY01"]
    record = await res.engine.store.get("B0LEGACY01")
    assert record is not None and (record.stage, record.status) == (Stage.DONE, Status.COMPLETE)
    assert report.problems == []
    assert any("processed_at" in w and "ignored" in w for w in report.warnings)
    assert record.title == "Done"


async def test_a_negative_retry_count_is_not_taken(make_services):
    res = await make_services(instrumented_pipeline())
    data = {"failed": {"B0LEGACY02": {"error": "boom", "retry_count": -3}}}
    report = await import_state(res.engine, data)
    assert report.created == ["B0LEGACY02"]
    record = await res.engine.store.get("B0LEGACY02")
    assert record is not None and record.attempts == {}
    assert any("retry_count" in w for w in report.warnings)


@pytest.mark.parametrize("releases", [5, "all", {"a": 1}])
async def test_an_export_whose_releases_are_not_a_list_is_a_clear_error(make_services, releases):
    res = await make_services(instrumented_pipeline())
    with pytest.raises(InputError, match="`releases` is not a list"):
        await import_state(res.engine, {"format": EXPORT_FORMAT, "releases": releases})


def test_the_import_command_reports_a_bad_file_without_a_traceback(cli, tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"format": EXPORT_FORMAT, "releases": 5}))
    result = cli("state", "import", str(path))
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "not a list" in result.output


# --------------------------------------------------------------------------- 11: terminal


HOSTILE = "Nice\x1b[2J\x1b]0;owned\x07 Title\u202egnp.exe"


async def test_control_characters_in_metadata_are_shown_harmlessly(cli, settings):
    book(
        settings.library_dir / "Author" / "Book {ASIN.B0CONTROL1}",
        ["Book.m4b"],
        metadata=audible("B0CONTROL1", HOSTILE, authors=["Au\x1bthor\u2066"]),
    )
    age(settings.library_dir)
    for argv in (("enqueue",), ("status",), ("status", "B0CONTROL1")):
        result = await asyncio.to_thread(cli, *argv)
        assert result.exit_code == 0, result.output
        for raw in ("\x1b", "\x07", "\u202e", "\u2066"):
            assert raw not in result.output, (argv, result.output)
        assert "\\x1b" in result.output, argv
    detail = await asyncio.to_thread(cli, "status", "B0CONTROL1")
    assert "\\u202e" in detail.output and "\\u2066" in detail.output


async def test_a_scan_reports_a_release_whose_record_is_damaged_and_queues_the_others(
    make_services, settings, redis
):
    res = await make_services(instrumented_pipeline())
    good_books(settings.library_dir)
    age(settings.library_dir)
    await plant_damaged(redis, GOOD[0])
    report = await enqueue(res.engine)
    outcomes = {r.asin: r.outcome for r in report.releases}
    assert outcomes == {GOOD[0]: "damaged", GOOD[1]: "new", GOOD[2]: "new"}
    damaged = next(r for r in report.releases if r.asin == GOOD[0])
    assert damaged.problem and "state forget" in damaged.problem


async def test_json_reports_carry_a_bad_name_escaped(cli, settings):
    good_books(settings.library_dir)
    non_utf8_book(settings.library_dir)
    age(settings.library_dir)
    for argv in (("enqueue", "--json"), ("naming", "preview", "--json")):
        result = await asyncio.to_thread(cli, *argv)
        assert result.exit_code == 0, (argv, result.output)
        rejects = json.loads(result.stdout)["discovery" if argv[0] == "enqueue" else "rejects"]
        rejects = rejects["rejects"] if argv[0] == "enqueue" else rejects
        assert [Path(r["path"]).name for r in rejects] == ["Caf\\xe9 {ASIN.B0LATIN001}"]
