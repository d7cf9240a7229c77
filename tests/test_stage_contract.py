"""The stage/engine contract: what a stage may set, where each kind of data lives, and
records written before the contract was typed (in Redis, in `state export` files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from mamfast.engine import keys
from mamfast.engine.transitions import advance
from mamfast.models import Release, Stage, StageOutput, StageResult, Status
from mamfast.ops.statefile import EXPORT_FORMAT, EXPORT_VERSION, import_state
from mamfast.stages import torrent as torrent_stage
from tests.support.engine_stages import instrumented_pipeline
from tests.support.torrent_data import ANNOUNCE, book

OLD_RECORD = Path(__file__).parent / "fixtures" / "records" / "release_before_typed_contract.json"
ENGINE_FIELDS = {
    "stage",
    "status",
    "run",
    "checkpoints",
    "attempts",
    "last_error",
    "error_type",
    "first_failed_at",
    "next_attempt_at",
    "warnings",
    "warning_owners",
    "details",
    "created_at",
    "updated_at",
}


def old_record() -> dict[str, object]:
    data: dict[str, object] = json.loads(OLD_RECORD.read_text("utf-8"))
    return data


# --------------------------------------------------------------------------- what a stage may set


def test_stage_output_names_only_contract_fields_of_the_record():
    fields = set(StageOutput.model_fields)
    assert fields <= set(Release.model_fields)
    assert not fields & ENGINE_FIELDS
    assert not fields & {"asin", "title", "author", "source_dir", "book"}


@pytest.mark.parametrize("field", ["run", "stage", "status", "details", "warning_owners"])
def test_a_stage_cannot_write_engine_fields(field):
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        StageOutput.model_validate({field: "anything"})


def test_the_old_untyped_updates_are_refused():
    with pytest.raises(ValidationError):
        StageResult.model_validate({"updates": {"run": 99}})


def test_only_a_finishing_status_can_be_handed_back():
    StageResult(final_status=Status.READY)
    with pytest.raises(ValidationError):
        StageResult(final_status=Status.NEEDS_ATTENTION)


def test_advance_applies_output_keeps_what_it_leaves_out_and_merges_display():
    record = Release(
        asin="B0CONTRACT",
        stage=Stage.TORRENT,
        run=3,
        staging_dir="/seed/x",
        details={"naming": {"folder": "x"}, "torrent": {"backend": "builtin"}},
        warnings=["torrent-old: from the last run", "audnex: missing (503)"],
        warning_owners={"torrent": ["torrent-old"], "metadata": ["audnex"]},
    )
    result = StageResult(
        output=StageOutput(torrent_path="/t/x.torrent", infohash="a" * 40, torrent_fingerprint="f"),
        display={"torrent": {"backend": "reused"}},
        warnings=["announce: none"],
    )
    after = advance(record, Stage.TORRENT, result)
    assert (after.torrent_path, after.infohash, after.torrent_fingerprint) == (
        "/t/x.torrent",
        "a" * 40,
        "f",
    )
    assert after.staging_dir == "/seed/x"  # None in the output: untouched
    assert after.details == {"naming": {"folder": "x"}, "torrent": {"backend": "reused"}}
    assert after.warnings == ["audnex: missing (503)", "announce: none"]
    assert after.warning_owners == {"torrent": ["announce"], "metadata": ["audnex"]}
    assert (after.stage, after.status, after.run) == (Stage.UPLOAD, Status.QUEUED, 4)


# --------------------------------------------------------------------------- old records


def test_an_old_record_loads_with_each_kind_of_data_in_its_place():
    raw = old_record()
    record = Release.model_validate(raw)
    assert record.warning_owners == {"stage": [], "metadata": ["audnex"], "torrent": ["announce"]}
    assert record.torrent_fingerprint == "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33"
    assert set(record.details) == {"naming", "staging", "metadata", "torrent"}
    assert "fingerprint" not in record.details["torrent"]
    assert record.details["torrent"]["backend"] == "builtin"
    # Everything else as it was.
    assert record.infohash == raw["infohash"] and record.run == 4
    assert (record.stage, record.status) == (Stage.UPLOAD, Status.QUEUED)
    assert record.warnings == raw["warnings"] and record.review == raw["review"]
    # Saved again in the new shape, it reads back the same.
    assert Release.model_validate_json(record.model_dump_json()) == record


def test_an_old_record_keeps_owning_its_warnings_after_the_upgrade():
    """A re-run of metadata that finds Audnex still clears the warning the old run left."""
    record = Release.model_validate({**old_record(), "stage": "metadata"})
    after = advance(record, Stage.METADATA, StageResult())
    assert [w for w in after.warnings if w.startswith("audnex")] == []
    assert any(w.startswith("announce") for w in after.warnings)


async def test_an_old_record_stored_in_redis_loads(make_services, redis):
    res = await make_services(instrumented_pipeline())
    raw = old_record()
    await redis.hset(
        keys.release(str(raw["asin"])),
        mapping={
            "doc": json.dumps(raw),
            "run": 4,
            "stage": "upload",
            "status": "queued",
            "infohash": str(raw["infohash"]),
            "fence": 0,
        },
    )
    record = await res.engine.store.get(str(raw["asin"]))
    assert record is not None
    assert record.torrent_fingerprint == "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33"
    assert "warning_keys" not in record.details


async def test_an_old_state_export_imports(make_services):
    res = await make_services(instrumented_pipeline())
    exported = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "releases": [old_record()]}
    report = await import_state(res.engine, exported)
    assert report.created == ["B08G9PRS1K"] and report.problems == []
    record = await res.engine.store.get("B08G9PRS1K")
    assert record is not None and record.warning_owners["metadata"] == ["audnex"]


async def test_a_torrent_recorded_before_the_upgrade_is_still_reused(make_services, tmp_path):
    """The fingerprint moved from `details` to its own field: the torrent stage still
    recognises the torrent it made and does not hash the folder again."""
    res = await make_services({}, seed_dir=tmp_path, announce_url=SecretStr(ANNOUNCE))
    folder = book(tmp_path / "seed")
    first = await torrent_stage.run(res, Release(asin="B0CONTRACT", staging_dir=str(folder)))
    made = Release(asin="B0CONTRACT", staging_dir=str(folder)).model_copy(
        update=first.output.changes()
    )
    old_shape = made.model_dump(mode="json", exclude={"torrent_fingerprint"})
    old_shape["details"] = {
        "torrent": {**first.display["torrent"], "fingerprint": first.output.torrent_fingerprint}
    }
    again = await torrent_stage.run(res, Release.model_validate(old_shape))
    assert again.display["torrent"]["backend"] == "reused"
    assert again.output.infohash == first.output.infohash
