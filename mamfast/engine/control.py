"""Operator actions on releases: retry, reset. Each is a fenced write under the lock."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from mamfast.config import Settings
from mamfast.engine import keys, locks
from mamfast.engine.dispatch import dispatch
from mamfast.engine.engine import Engine
from mamfast.engine.spec import S
from mamfast.engine.transitions import rewind
from mamfast.errors import DamagedRecordError, LockBusyError, NotOursError
from mamfast.fs.containment import in_torrent_dir
from mamfast.models import Release, Stage, Status, utcnow

ADMIN_LOCK_WAIT = 5.0


@dataclass
class ActionResult:
    asin: str
    ok: bool
    message: str


def held_release(
    engine: Engine[S], asin: str, purpose: str, *, wait: float = ADMIN_LOCK_WAIT
) -> AbstractAsyncContextManager[locks.Lease]:
    """An operator's hold on one release: its lock, fenced, so a stage that held it before
    can no longer commit over what the operator does. Raises LockBusyError after `wait`."""
    return locks.held(
        engine.redis,
        keys.release_lock(asin),
        ttl=engine.settings.lock_ttl,
        purpose=purpose,
        fence_key=keys.fence(asin),
        wait=wait,
    )


async def _locked_update(
    engine: Engine[S], asin: str, purpose: str, change: _Change
) -> ActionResult:
    try:
        async with held_release(engine, asin, purpose) as lease:
            record = await engine.store.get(asin)
            if record is None:
                return ActionResult(asin, False, f"no release with ASIN {asin}")
            changed = change.apply(record)
            if changed is None:
                return ActionResult(asin, False, change.refusal(record))
            stored = await engine.store.commit(
                changed,
                token=lease.token,
                expected_run=record.run,
                forget_infohash=change.forget(record),
            )
    except LockBusyError as exc:
        return ActionResult(
            asin, False, f"{asin} is being processed ({exc.message}); try again shortly"
        )
    await dispatch(engine.redis, engine.stages, stored)
    return ActionResult(asin, True, change.done(stored))


class _Change:
    def apply(self, record: Release) -> Release | None:
        return None

    def refusal(self, record: Release) -> str:
        return f"{record.asin}: nothing to do ({record.status}, stage {record.stage})"

    def forget(self, record: Release) -> str | None:
        return None

    def done(self, stored: Release) -> str:
        return f"{stored.asin}: {stored.stage} queued (job {stored.job_id})"


class _Retry(_Change):
    """Give a failed release a fresh attempt budget at the stage where it stopped."""

    def apply(self, record: Release) -> Release | None:
        if record.status not in (Status.NEEDS_ATTENTION, Status.RETRYING):
            return None
        if record.stage is Stage.DONE:
            return None
        attempts = {k: v for k, v in record.attempts.items() if k != record.stage.value}
        return record.model_copy(
            update={
                "status": Status.QUEUED,
                "run": record.run + 1,
                "attempts": attempts,
                "last_error": None,
                "error_type": None,
                "next_attempt_at": None,
            }
        )

    def refusal(self, record: Release) -> str:
        return f"{record.asin} has not failed (status {record.status}); nothing to retry"


@dataclass
class _Reset(_Change):
    """Force `stage` and every later stage to run again."""

    stage: Stage
    forget_torrent: bool = False

    def apply(self, record: Release) -> Release | None:
        reset = rewind(record, self.stage, note=f"reset: {self.stage} forced by operator")
        if self.forget_torrent:
            forgotten = {"infohash": None, "torrent_path": None, "torrent_fingerprint": None}
            reset = reset.model_copy(update=forgotten)
        return reset

    def forget(self, record: Release) -> str | None:
        return record.infohash if self.forget_torrent and record.infohash else None


@dataclass
class _AttachSource(_Change):
    """Fill in the source folder and book data of a record that had none."""

    found: Release

    def apply(self, record: Release) -> Release | None:
        if record.source_dir is not None:
            return None
        return record.model_copy(
            update={"source_dir": self.found.source_dir, "book": self.found.book}
        )


@dataclass
class _MarkUploaded(_Change):
    """Record that the user uploaded the release to MAM (or take that back).

    Only a finished release can have been uploaded: its torrent is what MAM gets.
    """

    uploaded: bool

    def apply(self, record: Release) -> Release | None:
        if self.uploaded and record.stage is not Stage.DONE:
            return None
        if (record.mam_uploaded_at is not None) == self.uploaded:
            return None
        when = utcnow() if self.uploaded else None
        return record.model_copy(update={"mam_uploaded_at": when})

    def refusal(self, record: Release) -> str:
        if self.uploaded and record.stage is not Stage.DONE:
            return f"{record.asin} is not ready yet (stage {record.stage}); upload it once it is"
        state = "already marked uploaded" if self.uploaded else "not marked uploaded"
        return f"{record.asin} is {state}; nothing to do"

    def done(self, stored: Release) -> str:
        if stored.mam_uploaded_at is None:
            return f"{stored.asin}: no longer marked uploaded"
        return f"{stored.asin}: marked uploaded at {stored.mam_uploaded_at:%Y-%m-%d %H:%M} UTC"


async def mark_uploaded(engine: Engine[S], asin: str, *, uploaded: bool = True) -> ActionResult:
    """The user's "I uploaded this to MAM" (or its undo), kept on the record."""
    return await _locked_update(engine, asin, "mamfast uploaded", _MarkUploaded(uploaded))


async def attach_source(engine: Engine[S], found: Release) -> ActionResult:
    return await _locked_update(engine, found.asin, "mamfast enqueue", _AttachSource(found))


async def retry(engine: Engine[S], asin: str) -> ActionResult:
    return await _locked_update(engine, asin, "mamfast retry", _Retry())


async def retry_all_failed(engine: Engine[S]) -> list[ActionResult]:
    failed = [r.asin for r in await engine.store.all() if r.status is Status.NEEDS_ATTENTION]
    return [await retry(engine, asin) for asin in failed]


async def reset(
    engine: Engine[S], asin: str, stage: Stage, *, forget_torrent: bool = False
) -> ActionResult:
    if stage is Stage.DONE:
        return ActionResult(
            asin, False, "choose a stage to re-run: stage, metadata, torrent, upload"
        )
    if forget_torrent and stage in (Stage.UPLOAD,):
        return ActionResult(asin, False, "--forget-torrent needs --stage torrent or earlier")
    before = await engine.store.get(asin)
    result = await _locked_update(engine, asin, "mamfast reset", _Reset(stage, forget_torrent))
    if result.ok and forget_torrent and before and before.torrent_path:
        # The torrent file on disk stands for the recorded infohash too (the torrent stage
        # compares with it when Redis has lost the record): forget it as well.
        result.message += await asyncio.to_thread(
            _remove_torrent_file, engine.settings, Path(before.torrent_path)
        )
    return result


async def forget_damaged(engine: Engine[S], asin: str) -> ActionResult:
    """Drop a record that cannot be read, so the next scan rebuilds it from the library.

    Only damaged records: a readable one holds the infohash guard and its history, and
    `reset` is the way to redo its work. Nothing on disk is touched.
    """
    try:
        async with held_release(engine, asin, "mamfast state forget"):
            try:
                record = await engine.store.get(asin)
            except DamagedRecordError:
                await engine.store.delete(asin)
                return ActionResult(
                    asin, True, f"forgot the damaged record {asin!r}; run `mamfast enqueue`"
                )
    except LockBusyError as exc:
        return ActionResult(asin, False, f"{asin!r} is locked ({exc.message}); try again shortly")
    if record is None:
        return ActionResult(asin, False, f"no release record {asin!r}")
    return ActionResult(
        asin,
        False,
        f"{asin}'s record is readable, so it is kept; to redo its work use "
        f"`mamfast reset {asin} --stage stage`",
    )


def _remove_torrent_file(settings: Settings, recorded: Path) -> str:
    try:
        old = in_torrent_dir(settings, recorded)
    except NotOursError as exc:
        return f"; kept the recorded torrent file: {exc.message}"
    if not old.is_file() or old.is_symlink():
        return ""
    old.unlink()
    return f"; removed the old torrent file {old}"
