"""The stage machine's words: which stages there are, in which order, and the statuses.

Plain enums and functions, no pydantic: the CLI builds `--stage` options and status
colours from these without loading the record models (`mamfast.models` re-exports them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


def utcnow() -> datetime:
    return datetime.now(UTC)


class Stage(StrEnum):
    STAGE = "stage"
    METADATA = "metadata"
    TORRENT = "torrent"
    UPLOAD = "upload"
    DONE = "done"


STAGE_ORDER: tuple[Stage, ...] = (Stage.STAGE, Stage.METADATA, Stage.TORRENT, Stage.UPLOAD)
CHECKPOINT_FIELD: dict[Stage, str] = {
    Stage.STAGE: "staged_at",
    Stage.METADATA: "metadata_at",
    Stage.TORRENT: "torrent_at",
    Stage.UPLOAD: "uploaded_at",
}


def next_stage(stage: Stage) -> Stage:
    index = STAGE_ORDER.index(stage)
    return STAGE_ORDER[index + 1] if index + 1 < len(STAGE_ORDER) else Stage.DONE


def stages_from(stage: Stage) -> tuple[Stage, ...]:
    """`stage` and every stage after it."""
    if stage is Stage.DONE:
        return ()
    return STAGE_ORDER[STAGE_ORDER.index(stage) :]


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETE = "complete"  # seeding in the torrent client
    READY = "ready"  # torrent and JSON prepared, no client configured
    NEEDS_ATTENTION = "needs_attention"


TERMINAL_STATUSES = frozenset({Status.COMPLETE, Status.READY, Status.NEEDS_ATTENTION})
