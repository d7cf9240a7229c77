"""How a record moves: advance after success, rewind to an earlier stage.

Pure functions of the record; the stage job and the operator actions commit them.
"""

from __future__ import annotations

import logging
from typing import Any

from mamfast.engine.spec import Pipeline, S
from mamfast.errors import (
    MamfastError,
)
from mamfast.models import (
    CHECKPOINT_FIELD,
    STAGE_ORDER,
    Checkpoints,
    Release,
    Stage,
    StageResult,
    Status,
    next_stage,
    stages_from,
    utcnow,
    warning_key,
)

log = logging.getLogger(__name__)


def rewind_if_artifacts_missing(stages: Pipeline[S], record: Release) -> Release | None:
    """Artifact validation: a checkpoint whose files are gone re-runs its stage.

    Blocking (the checks touch the disk): the stage job runs it in a thread.
    """
    for earlier in STAGE_ORDER:
        if earlier is record.stage or record.stage is Stage.DONE:
            break
        spec = stages.get(earlier)
        if record.checkpoints.get(earlier) is None or spec is None:
            continue
        missing = spec.artifacts_missing(record)
        if missing:
            log.warning("%s: %s; re-running from %s", record.asin, missing, earlier)
            return rewind(record, earlier, note=f"resume: {missing}; re-ran {earlier}")
    return None


def rewind(record: Release, stage: Stage, *, note: str | None = None) -> Release:
    """Move a release back to `stage`, voiding that checkpoint and every later one.

    The infohash stays recorded: a re-created torrent must reproduce it.
    """
    cleared = {CHECKPOINT_FIELD[s]: None for s in stages_from(stage)}
    checkpoints = Checkpoints(**{**record.checkpoints.model_dump(), **cleared})
    attempts = {k: v for k, v in record.attempts.items() if Stage(k) not in stages_from(stage)}
    return record.model_copy(
        update={
            "stage": stage,
            "status": Status.QUEUED,
            "run": record.run + 1,
            "checkpoints": checkpoints,
            "attempts": attempts,
            "last_error": None,
            "error_type": None,
            "next_attempt_at": None,
            "warnings": record.with_warning(note) if note else record.warnings,
        }
    )


def advance(record: Release, stage: Stage, result: StageResult) -> Release:
    """The record after `stage` succeeded: its output applied, checkpoint stamped, next
    stage queued. Only the engine sets its own fields; a stage's output cannot reach them."""
    checkpoints = record.checkpoints.model_copy(update={CHECKPOINT_FIELD[stage]: utcnow()})
    warnings, owners = _stage_warnings(record, stage, result)
    following = next_stage(stage)
    update: dict[str, Any] = {
        **result.output.changes(),
        # Display sections replace their namesakes; other stages' sections stay.
        "details": {**record.details, **result.display},
        "checkpoints": checkpoints,
        "warnings": warnings,
        "warning_owners": owners,
        "last_error": None,
        "error_type": None,
        "first_failed_at": None,
        "next_attempt_at": None,
        "stage": following,
    }
    if following is Stage.DONE:
        update["status"] = result.final_status or Status.COMPLETE
    else:
        update["status"] = Status.QUEUED
        update["run"] = record.run + 1
    return Release.model_validate({**record.model_dump(), **update})


def _stage_warnings(
    record: Release, stage: Stage, result: StageResult
) -> tuple[list[str], dict[str, list[str]]]:
    """This stage's new warnings replace the ones its previous run left (a re-run that
    found Audnex clears `audnex: missing`); other stages' warnings stay."""
    owners = dict(record.warning_owners)
    stale = set(owners.get(stage.value, []))
    kept = [w for w in record.warnings if warning_key(w) not in stale]
    for warning in result.warnings:
        kept = [w for w in kept if warning_key(w) != warning_key(warning)] + [warning]
    owners[stage.value] = sorted({warning_key(w) for w in result.warnings})
    return kept, owners


def explain(stage: Stage, exc: BaseException) -> str:
    if isinstance(exc, MamfastError):
        text = exc.message + (f". What to do: {exc.hint}" if exc.hint else "")
    else:
        text = f"unexpected {type(exc).__name__}: {exc}"
    return f"{stage}: {text}"
