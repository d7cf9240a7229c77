"""State export and import: our own JSON dump, and the old single-process state file.

The old tool kept `processed.json` (`version` 1 or 2, `processed` and `failed`
maps keyed by ASIN or source path). Import creates one record per entry and
never re-processes a release that file marks complete: such a record is
created terminal, so no job is dispatched for it. Entries that cannot be read
are reported one per line and skipped; an entry with one bad field is kept without
that field, with a warning; nothing else is lost.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from mamfast.asin import valid_asin
from mamfast.engine.dispatch import submit
from mamfast.engine.engine import Engine
from mamfast.engine.store import first_error
from mamfast.errors import DamagedRecordError, InputError
from mamfast.models import (
    CHECKPOINT_FIELD,
    STAGE_ORDER,
    Checkpoints,
    Release,
    Stage,
    Status,
    next_stage,
    utcnow,
)

EXPORT_FORMAT = "mamfast-state"
E = TypeVar("E", bound=BaseModel)
EXPORT_VERSION = 1

# Old status names -> the last stage that status implies was finished.
_LEGACY_DONE = {
    "STAGED": Stage.STAGE,
    "METADATA_FETCHED": Stage.METADATA,
    "TORRENT_CREATED": Stage.TORRENT,
    "UPLOADED": Stage.UPLOAD,
    "COMPLETE": Stage.UPLOAD,
}


class ImportReport(BaseModel):
    created: list[str] = Field(default_factory=list)
    existing: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)  # entries skipped, and why
    warnings: list[str] = Field(default_factory=list)  # entries kept without a bad field


class _Processed(BaseModel):
    asin: str | None = None
    title: str = ""
    author: str = ""
    processed_at: datetime | None = None
    staging_dir: str | None = None
    torrent_path: str | None = None
    infohash: str | None = None
    status: str | None = None
    checkpoints: Checkpoints | None = None


class _Failed(BaseModel):
    asin: str | None = None
    title: str = ""
    author: str = ""
    source_dir: str | None = None
    path: str | None = None  # v1 name of source_dir
    error: str = ""
    error_type: str | None = None
    failed_at: datetime | None = None
    first_failed_at: datetime | None = None
    retry_count: int = Field(default=0, ge=0)


async def export_state(engine: Engine[Any]) -> dict[str, Any]:
    records = await engine.store.all()
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": utcnow().isoformat(),
        "releases": [r.model_dump(mode="json") for r in records],
    }


def load_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"cannot read {path}: {exc}", hint="give a mamfast export or the old processed.json"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path} does not hold a JSON object")
    return data


async def import_state(engine: Engine[Any], data: dict[str, Any]) -> ImportReport:
    if data.get("format") == EXPORT_FORMAT:
        records, report = _from_export(data)
    elif "processed" in data or "failed" in data:
        records, report = _from_legacy(data)
    else:
        raise InputError(
            "the file is neither a mamfast export nor the old processed.json",
            hint="expected keys `format: mamfast-state`, or `version`/`processed`/`failed`",
        )
    for record in records:
        try:
            outcome = await submit(engine, record)
        except DamagedRecordError as exc:
            report.problems.append(f"{record.asin}: {exc.message}; skipped ({exc.hint})")
            continue
        (report.created if outcome.created else report.existing).append(record.asin)
    return report


def _from_export(data: dict[str, Any]) -> tuple[list[Release], ImportReport]:
    report = ImportReport()
    records = []
    releases = data.get("releases") or []
    if not isinstance(releases, list):
        raise InputError(
            f"`releases` is not a list (it is {type(releases).__name__}): the file is not a "
            "mamfast export, or it was edited",
            hint="export again with `mamfast state export`",
        )
    for index, raw in enumerate(releases):
        try:
            records.append(Release.model_validate(raw))
        except ValidationError as exc:
            report.problems.append(
                f"release #{index + 1}: unreadable ({first_error(exc)}); skipped"
            )
    return records, report


def _from_legacy(data: dict[str, Any]) -> tuple[list[Release], ImportReport]:
    report = ImportReport()
    version = data.get("version", 1)
    by_asin: dict[str, Release] = {}
    for key, raw in _entries(data.get("failed"), "failed", report):
        record = _failed_record(key, raw, report)
        if record:
            by_asin[record.asin] = record
    for key, raw in _entries(data.get("processed"), "processed", report):
        record = _processed_record(key, raw, version, report)
        if record:
            by_asin[record.asin] = record  # progress recorded as processed wins over a failure
    return sorted(by_asin.values(), key=lambda r: r.asin), report


def _entries(section: Any, name: str, report: ImportReport) -> list[tuple[str, Any]]:
    if section is None:
        return []
    if not isinstance(section, dict):
        report.problems.append(f"`{name}` is not a JSON object; skipped")
        return []
    return sorted(section.items())


def _asin_of(key: str, entry_asin: str | None, where: str, report: ImportReport) -> str | None:
    for candidate in (entry_asin, key):
        if candidate and valid_asin(candidate.strip().upper()):
            return candidate.strip().upper()
    report.problems.append(f"{where} {key!r}: no valid ASIN (B + 9 letters/digits); skipped")
    return None


def _entry(
    model: type[E], section: str, key: str, raw: Any, report: ImportReport
) -> tuple[E, str] | None:
    """One entry of the old file, validated, with its ASIN; None (reported) if unusable.

    A field that does not validate is left out, with a warning, and the rest of the
    entry kept: dropping a finished book for a bad `processed_at` would redo it.
    """
    data, ignored = raw, []
    while True:
        try:
            entry = model.model_validate(data)
            break
        except ValidationError as exc:
            bad = [err["loc"] for err in exc.errors(include_url=False, include_input=False)]
            pruned = _without(data, bad)
            if pruned is None:
                report.problems.append(
                    f"{section} {key!r}: unreadable ({first_error(exc)}); skipped"
                )
                return None
            ignored.append(first_error(exc))
            data = pruned
    asin = _asin_of(key, getattr(entry, "asin", None), section, report)
    if asin is None:
        return None
    for problem in ignored:
        report.warnings.append(f"{section} {key!r}: {problem}; ignored, the rest is kept")
    return entry, asin


def _without(data: Any, locations: list[tuple[int | str, ...]]) -> dict[str, Any] | None:
    """`data` without the fields at `locations` (None if that leaves nothing to try)."""
    if not isinstance(data, dict) or not all(locations):
        return None
    pruned = copy.deepcopy(data)
    for location in locations:
        parent: Any = pruned
        for step in location[:-1]:
            child = parent.get(step) if isinstance(parent, dict) else None
            if not isinstance(child, dict):
                break  # inside a list or a wrong type: drop the field found so far
            parent = child
        else:
            parent.pop(location[-1], None)
            continue
        pruned.pop(location[0], None)
    return pruned if pruned != data else None


def _processed_record(key: str, raw: Any, version: int, report: ImportReport) -> Release | None:
    found = _entry(_Processed, "processed", key, raw, report)
    if found is None:
        return None
    entry, asin = found
    checkpoints = entry.checkpoints or Checkpoints()
    done = _last_done(entry, checkpoints, version)
    when = entry.processed_at or utcnow()
    stamps = {
        field: checkpoints.get(stage) or (when if _reached(stage, done) else None)
        for stage, field in CHECKPOINT_FIELD.items()
    }
    stage = next_stage(done) if done is not None else Stage.STAGE
    return Release(
        asin=asin,
        title=entry.title,
        author=entry.author,
        staging_dir=entry.staging_dir,
        torrent_path=entry.torrent_path,
        infohash=(entry.infohash or "").lower() or None,
        stage=stage,
        status=Status.COMPLETE if stage is Stage.DONE else Status.QUEUED,
        checkpoints=Checkpoints(**stamps),
        warnings=["imported: from the old state file"],
    )


def _last_done(entry: _Processed, checkpoints: Checkpoints, version: int) -> Stage | None:
    """The last finished stage, from checkpoints first, then from the status name."""
    if entry.status is None and version == 1:
        return Stage.UPLOAD  # version 1 wrote `processed` only for finished releases
    done = _LEGACY_DONE.get((entry.status or "").upper())
    for stage in STAGE_ORDER:
        if checkpoints.get(stage) is not None and not _reached(stage, done):
            done = stage
    return done


def _reached(stage: Stage, done: Stage | None) -> bool:
    return done is not None and STAGE_ORDER.index(stage) <= STAGE_ORDER.index(done)


def _failed_record(key: str, raw: Any, report: ImportReport) -> Release | None:
    found = _entry(_Failed, "failed", key, raw, report)
    if found is None:
        return None
    entry, asin = found
    return Release(
        asin=asin,
        title=entry.title,
        author=entry.author,
        source_dir=entry.source_dir or entry.path,
        status=Status.NEEDS_ATTENTION,
        last_error=(
            f"imported: the old tool failed here ({entry.error or 'no message'}); "
            f"fix the cause, then run `mamfast retry {asin}`"
        ),
        error_type=entry.error_type or "LegacyFailure",
        first_failed_at=entry.first_failed_at or entry.failed_at,
        attempts={Stage.STAGE.value: entry.retry_count} if entry.retry_count else {},
    )
