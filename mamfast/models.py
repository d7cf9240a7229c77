"""The release record and its stage machine.

A release is one book, keyed by ASIN. `stage` names the next stage to run
(or `done`); `run` counts dispatches, so the arq job id
`{asin}:{stage}:{run}` is a pure function of the record: two producers that
enqueue the same release compute the same id and arq collapses them, while a
job left over from an earlier dispatch sees a different id and stops.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mamfast.asin import Asin


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


class Checkpoints(BaseModel):
    staged_at: datetime | None = None
    metadata_at: datetime | None = None
    torrent_at: datetime | None = None
    uploaded_at: datetime | None = None

    def get(self, stage: Stage) -> datetime | None:
        value: datetime | None = getattr(self, CHECKPOINT_FIELD[stage])
        return value


class SeriesRef(BaseModel):
    name: str
    position: str | None = None


class BookInfo(BaseModel):
    """What discovery learnt about a book (Libation's metadata file or folder name)."""

    model_config = ConfigDict(extra="ignore")

    title: str = ""
    subtitle: str = ""
    authors: list[str] = Field(default_factory=list)
    narrators: list[str] = Field(default_factory=list)
    series: list[SeriesRef] = Field(default_factory=list)
    year: str | None = None
    language: str | None = None
    publisher: str | None = None
    summary: str | None = None
    runtime_minutes: int | None = None
    metadata_file: str | None = None


class Release(BaseModel):
    """One book's progress. Stored as JSON in Redis; the source of truth."""

    model_config = ConfigDict(extra="ignore")

    asin: Asin  # validated: it names Redis keys and folders
    title: str = ""
    author: str = ""
    source_dir: str | None = None
    book: BookInfo = Field(default_factory=BookInfo)

    staging_dir: str | None = None
    staged_files: list[str] = Field(default_factory=list)
    json_path: str | None = None
    description_path: str | None = None
    torrent_path: str | None = None
    infohash: str | None = None

    stage: Stage = Stage.STAGE
    status: Status = Status.QUEUED
    run: int = 1
    checkpoints: Checkpoints = Field(default_factory=Checkpoints)
    attempts: dict[str, int] = Field(default_factory=dict)
    last_error: str | None = None
    error_type: str | None = None
    first_failed_at: datetime | None = None
    next_attempt_at: datetime | None = None
    warnings: list[str] = Field(default_factory=list)
    review: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def job_id(self) -> str:
        return job_id_for(self.asin, self.stage, self.run)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def with_warning(self, warning: str) -> list[str]:
        """The warnings list with `warning` added once (warnings are keyed by their prefix)."""
        kept = [w for w in self.warnings if warning_key(w) != warning_key(warning)]
        return [*kept, warning]


def warning_key(warning: str) -> str:
    """`audnex: missing (...)` -> `audnex`: a newer warning with the same key replaces it."""
    return warning.split(":", 1)[0]


def job_id_for(asin: str, stage: Stage | str, run: int) -> str:
    return f"mamfast:{asin}:{stage}:{run}"


class StageResult(BaseModel):
    """What a stage hands back to the engine: record fields to set, and notes."""

    updates: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    final_status: Status | None = None  # only the last stage sets this (complete / ready)
