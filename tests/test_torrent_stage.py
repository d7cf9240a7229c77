"""The torrent stage: direct calls and through the engine, against a private Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from mamfast.engine import control, keys
from mamfast.engine.dispatch import submit
from mamfast.engine.spec import StageSpec
from mamfast.errors import InfohashMismatchError, StagingError
from mamfast.fs.atomic import temp_files
from mamfast.models import Release, Stage, StageResult, Status
from mamfast.stages import torrent as stage
from mamfast.torrents import read_torrent
from tests.conftest import make_settings
from tests.support.drain import drain
from tests.support.engine_stages import instrumented_pipeline, plan
from tests.support.torrent_data import ANNOUNCE, book, mktorrent_infohash

ASIN = "B0TORRENT1"


def release(folder: Path, **fields: object) -> Release:
    return Release(asin=ASIN, title="Book", staging_dir=str(folder), **fields)


def recorded(previous: Release, result: StageResult) -> Release:
    """The record with the stage's output applied, as the engine stores it."""
    return previous.model_copy(update=result.output.changes())


@pytest.fixture
def settings(tmp_path, redis_server):
    """Staged folders in these tests live anywhere under tmp_path: make that the seed folder."""
    return make_settings(tmp_path, redis_server.url, seed_dir=tmp_path)


@pytest.fixture
async def res(make_services):
    return await make_services({}, announce_url=SecretStr(ANNOUNCE))


async def test_stage_writes_the_torrent_and_records_the_infohash(res, tmp_path):
    folder = book(tmp_path / "seed")
    result = await stage.run(res, release(folder))
    dest = res.settings.torrent_folder / folder.name / f"{folder.name}.torrent"
    assert result.output.torrent_path == str(dest)
    meta = read_torrent(dest)
    assert result.output.infohash == meta.infohash == mktorrent_infohash(folder, 15)
    assert meta.private and meta.source == "MAM"
    assert meta.announce is not None and meta.announce.get_secret_value() == ANNOUNCE
    details = result.display["torrent"]
    assert details["backend"] == "builtin"
    assert (details["piece_length"], details["piece_count"]) == (32_768, meta.piece_count)
    assert details["bytes"] == meta.total_size and details["files"] == 4
    assert result.hashed_bytes == meta.total_size  # for the engine's statistics
    assert result.warnings == []
    progress = await res.redis.hgetall(f"{keys.PREFIX}progress:{ASIN}")
    assert progress[b"stage"] == b"torrent"
    assert progress[b"done"] == progress[b"total"] == str(meta.total_size).encode()
    assert list(dest.parent.iterdir()) == [dest]  # no temp file left behind


async def test_missing_announce_is_a_warning_not_an_error(make_services, tmp_path):
    res = await make_services({})
    result = await stage.run(res, release(book(tmp_path)))
    assert result.warnings == [stage.NO_ANNOUNCE]
    assert read_torrent(Path(result.output.torrent_path)).announce is None


async def test_rerun_reuses_the_recorded_torrent_without_rehashing(res, tmp_path):
    folder = book(tmp_path)
    first = await stage.run(res, release(folder))
    dest = Path(first.output.torrent_path)
    before = dest.stat()
    again = await stage.run(res, recorded(release(folder), first))
    assert again.output.infohash == first.output.infohash
    assert again.display["torrent"]["backend"] == "reused"
    assert first.hashed_bytes > 0 and again.hashed_bytes == 0  # nothing hashed: nothing counted
    assert dest.stat().st_mtime_ns == before.st_mtime_ns and dest.stat().st_ino == before.st_ino


async def test_reuse_refreshes_a_changed_announce_without_changing_the_infohash(
    make_services, tmp_path
):
    folder = book(tmp_path)
    bare = await stage.run(await make_services({}), release(folder))
    with_url = await make_services({}, announce_url=SecretStr(ANNOUNCE))
    again = await stage.run(with_url, recorded(release(folder), bare))
    assert again.display["torrent"]["backend"] == "reused"
    meta = read_torrent(Path(again.output.torrent_path))
    assert meta.infohash == bare.output.infohash
    assert meta.announce is not None and meta.announce.get_secret_value() == ANNOUNCE


async def test_deleted_torrent_is_recreated_with_the_same_infohash(res, tmp_path):
    folder = book(tmp_path)
    first = await stage.run(res, release(folder))
    Path(first.output.torrent_path).unlink()
    again = await stage.run(res, recorded(release(folder), first))
    assert again.display["torrent"]["backend"] == "builtin"
    assert again.output.infohash == first.output.infohash


async def test_changed_files_stop_with_infohash_mismatch(res, tmp_path):
    folder = book(tmp_path)
    first = await stage.run(res, release(folder))
    dest = Path(first.output.torrent_path)
    kept = dest.read_bytes()
    data = bytearray((folder / "Part 02.m4b").read_bytes())
    data[1000] ^= 0xFF  # same size, same names: only the content (and mtime) differ
    (folder / "Part 02.m4b").write_bytes(bytes(data))

    with pytest.raises(InfohashMismatchError) as info:
        await stage.run(res, recorded(release(folder), first))
    message = str(info.value)
    assert first.output.infohash in message
    assert mktorrent_infohash(folder, 15) in message  # the new one, named too
    assert f"mamfast reset {ASIN} --stage torrent --forget-torrent" in info.value.hint
    assert dest.read_bytes() == kept  # the recorded torrent is left alone


async def test_missing_staged_folder_is_a_clear_error(res, tmp_path):
    with pytest.raises(StagingError, match=r"staged folder .* is gone"):
        await stage.run(res, release(tmp_path / "gone"))
    with pytest.raises(StagingError, match="no staged folder is recorded"):
        await stage.run(res, Release(asin=ASIN))


async def test_artifacts_missing(res, tmp_path):
    folder = book(tmp_path)
    done = recorded(release(folder), await stage.run(res, release(folder)))
    assert stage.artifacts_missing(done) is None
    assert stage.artifacts_missing(release(folder)) == "no torrent file is recorded"
    other = done.model_copy(update={"infohash": "0" * 40})
    assert "holds infohash" in (stage.artifacts_missing(other) or "")
    Path(done.torrent_path or "").unlink()
    assert "is gone" in (stage.artifacts_missing(done) or "")


async def test_crash_mid_write_leaves_nothing_after_the_rerun(res, tmp_path):
    """A process killed between writing the temp file and renaming it."""
    folder = book(tmp_path)
    dest = stage.torrent_file(res.settings, folder.name)
    crash = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from mamfast.torrents.create import write_torrent_atomic\n"
        "def die(self, target): os._exit(9)\n"
        "Path.replace = die\n"
        "write_torrent_atomic(b'd4:infod4:name1:xee' * 1000, Path(sys.argv[1]))\n"
    )
    died = subprocess.run([sys.executable, "-c", crash, str(dest)], check=False)
    assert died.returncode == 9
    assert not dest.exists() and temp_files(dest)  # the crash really was mid-write

    result = await stage.run(res, release(folder))
    assert read_torrent(dest).infohash == result.output.infohash
    assert sorted(dest.parent.iterdir()) == [dest]


async def test_cancel_stops_hashing_promptly_and_writes_nothing(make_services, tmp_path):
    res = await make_services({}, torrent_workers=2)
    folder = tmp_path / "Huge"
    folder.mkdir()
    with (folder / "big.m4b").open("wb") as f:  # sparse: 8 GiB of zeros, instant to create
        f.truncate(8 << 30)
    task = asyncio.create_task(stage.run(res, release(folder)))
    while not await res.redis.exists(f"{keys.PREFIX}progress:{ASIN}"):
        await asyncio.sleep(0.02)  # hashing has started
    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0
    # Both pool threads are free at once: no hashing thread kept running after the cancel.
    loop = asyncio.get_running_loop()
    idle = time.monotonic()
    await asyncio.gather(*(loop.run_in_executor(res.hash_pool, time.sleep, 0) for _ in range(2)))
    assert time.monotonic() - idle < 0.2
    dest = stage.torrent_file(res.settings, folder.name)
    assert not dest.exists() and not temp_files(dest)


def torrent_pipeline():  # type: ignore[no-untyped-def]
    stages = dict(instrumented_pipeline())
    stages[Stage.TORRENT] = StageSpec(
        Stage.TORRENT, stage.run, stage.artifacts_missing, queue=keys.HASH_QUEUE
    )
    return stages


async def test_through_the_engine_reset_and_forget(make_services, redis, tmp_path):
    res = await make_services(torrent_pipeline(), announce_url=SecretStr(ANNOUNCE))
    folder = book(tmp_path / "seed")
    await redis.hset(plan(ASIN, "stage"), "dir", str(folder))
    await submit(res.engine, Release(asin=ASIN, title="Book"))
    await drain(res.settings, res.engine.stages, res.engine.store)
    done = await res.engine.store.get(ASIN)
    assert done is not None and done.status is Status.READY, done.last_error
    assert done.infohash == mktorrent_infohash(folder, 15)
    assert done.torrent_path and Path(done.torrent_path).is_file()
    assert done.details["torrent"]["backend"] == "builtin"

    # Forced re-run with unchanged files: the recorded torrent is reused.
    assert (await control.reset(res.engine, ASIN, Stage.TORRENT)).ok
    await drain(res.settings, res.engine.stages, res.engine.store)
    again = await res.engine.store.get(ASIN)
    assert again is not None and again.status is Status.READY
    assert again.infohash == done.infohash and again.details["torrent"]["backend"] == "reused"

    # The files change: the stage refuses to make a second torrent for the release.
    with (folder / "cover.jpg").open("ab") as f:
        f.write(b"more")
    assert (await control.reset(res.engine, ASIN, Stage.TORRENT)).ok
    await drain(res.settings, res.engine.stages, res.engine.store)
    stuck = await res.engine.store.get(ASIN)
    assert stuck is not None and stuck.status is Status.NEEDS_ATTENTION
    assert stuck.error_type == "InfohashMismatchError"
    assert done.infohash in (stuck.last_error or "")
    assert "--forget-torrent" in (stuck.last_error or "")
    assert stuck.attempts == {"torrent": 1}  # permanent: no retries

    # The operator says the change was on purpose.
    assert (await control.reset(res.engine, ASIN, Stage.TORRENT, forget_torrent=True)).ok
    await drain(res.settings, res.engine.stages, res.engine.store)
    final = await res.engine.store.get(ASIN)
    assert final is not None and final.status is Status.READY
    assert final.infohash == mktorrent_infohash(folder, 15) != done.infohash
    assert read_torrent(Path(final.torrent_path or "")).infohash == final.infohash


async def test_after_redis_lost_the_record_the_torrent_on_disk_guards_the_infohash(
    make_services, redis, tmp_path
):
    res = await make_services(torrent_pipeline(), announce_url=SecretStr(ANNOUNCE))
    folder = book(tmp_path / "seed")

    async def rebuild() -> Release:
        # What `mamfast enqueue` does after Redis lost everything: a fresh record.
        await redis.hset(plan(ASIN, "stage"), "dir", str(folder))
        await submit(res.engine, Release(asin=ASIN, title="Book"))
        await drain(res.settings, res.engine.stages, res.engine.store)
        record = await res.engine.store.get(ASIN)
        assert record is not None
        return record

    first = await rebuild()
    await redis.flushdb()
    same = await rebuild()  # unchanged files: the same torrent, the same infohash
    assert same.status is Status.READY and same.infohash == first.infohash

    await redis.flushdb()
    with (folder / "cover.jpg").open("ab") as f:
        f.write(b"edited")
    changed = await rebuild()
    assert changed.status is Status.NEEDS_ATTENTION
    assert changed.error_type == "InfohashMismatchError"
    assert first.infohash and first.infohash in (changed.last_error or "")
    assert read_torrent(Path(first.torrent_path or "")).infohash == first.infohash  # untouched


async def test_cancel_does_not_wait_for_another_hash_in_the_shared_pool(make_services, tmp_path):
    """With MAMFAST_HASH_JOBS > 1 a second hash can be queued behind the first one."""
    res = await make_services({}, torrent_workers=2)
    first = tmp_path / "First"
    second = tmp_path / "Second"
    for folder in (first, second):
        folder.mkdir()
        with (folder / "big.m4b").open("wb") as f:
            f.truncate(8 << 30)
    running = asyncio.create_task(stage.run(res, release(first)))
    while not await res.redis.exists(f"{keys.PREFIX}progress:{ASIN}"):
        await asyncio.sleep(0.02)
    queued = asyncio.create_task(
        stage.run(res, release(second).model_copy(update={"asin": "B0QUEUED01"}))
    )
    await asyncio.sleep(0.3)  # its threads cannot start: both pool threads hash the first
    queued.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert time.monotonic() - started < 1.0
    assert not running.done()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


async def test_discovered_book_staged_then_hashed_through_the_engine(make_services, settings):
    """The real staging stage feeds the real torrent stage; their details sit side by side."""
    from mamfast.library.discovery import discover
    from mamfast.stages import staging
    from tests.support.library import WAY_OF_KINGS, age, way_of_kings
    from tests.support.library import book as library_book

    assert settings.library_dir is not None
    library_book(
        settings.library_dir / WAY_OF_KINGS,
        {"The Way of Kings.m4b": os.urandom(300_001), "cover.jpg": os.urandom(20_000)},
        metadata=way_of_kings(),
    )
    age(settings.library_dir)
    (candidate,) = discover(settings).releases
    stages = {
        **torrent_pipeline(),
        Stage.STAGE: StageSpec(Stage.STAGE, staging.run, staging.artifacts_missing),
    }
    res = await make_services(stages)
    await submit(res.engine, candidate.to_release())
    await drain(res.settings, res.engine.stages, res.engine.store)
    record = await res.engine.store.get("B003ZWFO7E")
    assert record is not None and record.status is Status.READY, record and record.last_error
    staged = Path(record.staging_dir or "")
    assert record.infohash == mktorrent_infohash(staged, 15)
    meta = read_torrent(Path(record.torrent_path or ""))
    assert meta.name == staged.name
    assert [f.relpath for f in meta.files] == sorted(record.staged_files)
    assert {"naming", "staging", "torrent"} <= set(record.details)
    assert stage.NO_ANNOUNCE in record.warnings
