"""The release record and its stage machine.

A release is one book, keyed by ASIN. `stage` names the next stage to run
(or `done`); `run` counts dispatches, so the arq job id
`{asin}:{stage}:{run}` is a pure function of the record: two producers that
enqueue the same release compute the same id and arq collapses them, while a
job left over from an earlier dispatch sees a different id and stops.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mamfast.asin import Asin

# The stage and status vocabulary lives in `lifecycle` (no pydantic, so the CLI can build
# its options without loading pydantic); re-exported here for every module that reads
# records.
from mamfast.lifecycle import CHECKPOINT_FIELD as CHECKPOINT_FIELD
from mamfast.lifecycle import STAGE_ORDER as STAGE_ORDER
from mamfast.lifecycle import TERMINAL_STATUSES as TERMINAL_STATUSES
from mamfast.lifecycle import Stage as Stage
from mamfast.lifecycle import Status as Status
from mamfast.lifecycle import next_stage as next_stage
from mamfast.lifecycle import stages_from as stages_from
from mamfast.lifecycle import utcnow as utcnow


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
    """One book's progress. Stored as JSON in Redis; the source of truth.

    Three kinds of data, each in its own place: what discovery found (the book), the
    stage contract (what the stages produced, `StageOutput`'s fields, which the stages
    after them read), and the engine's bookkeeping (stage, status, run, checkpoints,
    attempts, errors, warnings). `details` is for people only: facts per section
    (naming, staging, metadata, torrent, qbit) that no code decides anything by.
    """

    model_config = ConfigDict(extra="ignore")

    asin: Asin  # validated: it names Redis keys and folders
    title: str = ""
    author: str = ""
    source_dir: str | None = None
    book: BookInfo = Field(default_factory=BookInfo)

    # The stage contract (see StageOutput).
    staging_dir: str | None = None
    staged_files: list[str] = Field(default_factory=list)
    json_path: str | None = None
    description_path: str | None = None
    torrent_path: str | None = None
    infohash: str | None = None
    torrent_fingerprint: str | None = None
    review: list[str] = Field(default_factory=list)

    # The engine's bookkeeping.
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
    warning_owners: dict[str, list[str]] = Field(default_factory=dict)  # stage -> warning keys
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    # What the user told us: when they uploaded the release to MAM by hand (None: not
    # yet). Not `checkpoints.uploaded_at`, which is when the upload stage added the
    # torrent to qBittorrent.
    mam_uploaded_at: datetime | None = None

    # For people: display facts per section.
    details: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_earlier_versions(cls, data: Any) -> Any:
        """Records written before the contract was typed kept two things in `details`:
        the engine's `warning_keys` and the torrent stage's file `fingerprint`. They move
        to their own fields, so a stored record or a `state export` file still loads."""
        details = data.get("details") if isinstance(data, dict) else None
        if not isinstance(details, dict):
            return data
        torrent = details.get("torrent")
        torrent = dict(torrent) if isinstance(torrent, dict) else None
        if "warning_keys" not in details and (torrent is None or "fingerprint" not in torrent):
            return data
        data, details = dict(data), dict(details)
        owners = details.pop("warning_keys", None)
        if isinstance(owners, dict):
            data.setdefault("warning_owners", owners)
        if torrent is not None and "fingerprint" in torrent:
            data.setdefault("torrent_fingerprint", torrent.pop("fingerprint"))
            details["torrent"] = torrent
        data["details"] = details
        return data

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


class StageOutput(BaseModel):
    """What a stage may set on the record: the stage contract, nothing of the engine's.

    A field left None is not touched, so a stage never clears what an earlier one
    recorded. Each name is a `Release` field (a test pins it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    staging_dir: str | None = None  # stage
    staged_files: list[str] | None = None  # stage
    json_path: str | None = None  # metadata
    description_path: str | None = None  # metadata
    review: list[str] | None = None  # metadata: the checklist before upload
    torrent_path: str | None = None  # torrent
    infohash: str | None = None  # torrent (upload, when none was recorded)
    torrent_fingerprint: str | None = None  # torrent: what a later run reuses a torrent by

    def changes(self) -> dict[str, Any]:
        """The record fields to set."""
        return self.model_dump(exclude_none=True)


class StageResult(BaseModel):
    """What a stage hands back to the engine: its output, display facts and warnings.

    `display` holds sections for `Release.details` (one stage may fill several:
    staging gives `naming` and `staging`); each replaces the section of that name.
    """

    model_config = ConfigDict(extra="forbid")

    output: StageOutput = Field(default_factory=StageOutput)
    display: dict[str, dict[str, Any]] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    # only the last stage sets this
    final_status: Literal[Status.COMPLETE, Status.READY] | None = None
    # bytes read and hashed by this run (the torrent stage; 0 when a torrent was reused):
    # for the engine's statistics, never stored on the record
    hashed_bytes: int = Field(default=0, ge=0)
