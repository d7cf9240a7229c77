"""State export/import, including the old single-process tool's processed.json."""

from __future__ import annotations

import json
from pathlib import Path

from mamfast.models import Stage, Status
from mamfast.ops.statefile import export_state, import_state, load_file
from tests.support.drain import drain
from tests.support.engine_stages import calls, instrumented_pipeline

FIXTURES = Path(__file__).parent / "fixtures" / "legacy"


def legacy(name: str, staged: Path) -> dict:
    text = (FIXTURES / name).read_text().replace("STAGED_DIR", str(staged))
    return json.loads(text)


async def test_import_v1_never_reprocesses_complete_releases(make_services, settings, tmp_path):
    res = await make_services(instrumented_pipeline())
    report = await import_state(res.engine, legacy("processed_v1.json", tmp_path))
    assert sorted(report.created) == ["B08G9PRS1K", "B09GHD1R2R", "B0BADB00K1"]
    assert report.problems == [
        "processed '/mnt/user/data/audiobooks/Unknown/Some Homebrew Book': "
        "no valid ASIN (B + 9 letters/digits); skipped"
    ]
    done = await res.engine.store.get("B09GHD1R2R")
    assert done is not None
    assert (done.stage, done.status) == (Stage.DONE, Status.COMPLETE)
    assert done.checkpoints.uploaded_at is not None
    # Key-only entry (ASIN from the map key) is complete too: v1 recorded only finished books.
    hail = await res.engine.store.get("B08G9PRS1K")
    assert hail is not None and hail.status is Status.COMPLETE
    failed = await res.engine.store.get("B0BADB00K1")
    assert failed is not None and failed.status is Status.NEEDS_ATTENTION
    assert failed.source_dir == "/mnt/user/data/audiobooks/Someone/A Broken Book"
    assert "mkbrr create timed out" in (failed.last_error or "")
    assert "mamfast retry B0BADB00K1" in (failed.last_error or "")
    assert await res.redis.zcard("mamfast:queue") == 0  # nothing dispatched


async def test_import_v2_resumes_partial_releases_from_their_checkpoint(
    make_services, settings, tmp_path
):
    res = await make_services(instrumented_pipeline())
    report = await import_state(res.engine, legacy("processed_v2.json", tmp_path))
    assert sorted(report.created) == [
        "B09GHD1R2R",
        "B0FAILED01",
        "B0MANGLED1",  # its one bad field is left out, the entry is kept
        "B0PARTIAL1",
        "B0STAGED01",
    ]
    assert len(report.problems) == 1
    assert report.problems[0].startswith("processed 'B0NOTADICT': unreadable")
    (warning,) = report.warnings
    assert warning.startswith("processed 'B0MANGLED1': checkpoints.staged_at")
    assert "ignored" in warning

    complete = await res.engine.store.get("B09GHD1R2R")
    assert complete is not None and complete.status is Status.COMPLETE
    assert complete.infohash == "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2"
    partial = await res.engine.store.get("B0PARTIAL1")
    assert partial is not None and (partial.stage, partial.status) == (Stage.UPLOAD, Status.QUEUED)
    staged = await res.engine.store.get("B0STAGED01")
    assert staged is not None and staged.stage is Stage.METADATA
    failed = await res.engine.store.get("B0FAILED01")
    assert failed is not None and failed.error_type == "AudnexError"
    assert failed.attempts == {"stage": 3}

    await drain(settings, res.engine.stages, res.engine.store)
    log = await calls(res)
    started = [c.rsplit(":", 2)[0] for c in log if c.endswith(":start")]
    # Only the unfinished stages ran; the complete release was never touched.
    assert sorted(started) == [
        "B0MANGLED1:metadata",  # no progress could be read: from the start
        "B0MANGLED1:stage",
        "B0MANGLED1:torrent",
        "B0MANGLED1:upload",
        "B0PARTIAL1:upload",
        "B0STAGED01:metadata",
        "B0STAGED01:torrent",
        "B0STAGED01:upload",
    ]
    again = await import_state(res.engine, legacy("processed_v2.json", tmp_path))
    assert again.created == [] and len(again.existing) == 5


async def test_export_then_import_round_trips(make_services, settings, tmp_path, redis):
    res = await make_services(instrumented_pipeline())
    await import_state(res.engine, legacy("processed_v2.json", tmp_path))
    exported = await export_state(res.engine)
    assert exported["format"] == "mamfast-state" and len(exported["releases"]) == 5
    out = tmp_path / "state.json"
    out.write_text(json.dumps(exported))
    await redis.flushdb()
    report = await import_state(res.engine, load_file(out))
    assert sorted(report.created) == sorted(r["asin"] for r in exported["releases"])
    restored = await res.engine.store.get("B0PARTIAL1")
    assert restored is not None and restored.infohash == "b1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2"


async def test_the_mam_upload_mark_survives_export_and_import(make_services, tmp_path, redis):
    from mamfast.engine.control import mark_uploaded

    res = await make_services(instrumented_pipeline())
    await import_state(res.engine, legacy("processed_v1.json", tmp_path))
    assert (await mark_uploaded(res.engine, "B09GHD1R2R")).ok
    marked = await res.engine.store.get("B09GHD1R2R")
    assert marked is not None and marked.mam_uploaded_at is not None
    out = tmp_path / "state.json"
    out.write_text(json.dumps(await export_state(res.engine)))
    await redis.flushdb()
    await import_state(res.engine, load_file(out))
    restored = await res.engine.store.get("B09GHD1R2R")
    assert restored is not None and restored.mam_uploaded_at == marked.mam_uploaded_at
    other = await res.engine.store.get("B08G9PRS1K")
    assert other is not None and other.mam_uploaded_at is None
