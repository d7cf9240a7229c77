"""The `stage` stage: hardlinked MAM-named folders, atomic and re-runnable, on a real filesystem."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest

from mamfast.config import Settings
from mamfast.engine import control
from mamfast.engine.dispatch import submit
from mamfast.engine.spec import StageSpec
from mamfast.errors import CrossDeviceError, DiskFullError, InputError, StagingError
from mamfast.library.discovery import discover
from mamfast.models import BookInfo, Release, SeriesRef, Stage, Status
from mamfast.release.naming import load_rules
from mamfast.stages import staging
from mamfast.stages.staging import (
    PARTIAL_PREFIX,
    artifacts_missing,
    check_same_filesystem,
    stage_release,
)
from tests.conftest import make_settings
from tests.support.drain import drain
from tests.support.engine_stages import instrumented_pipeline
from tests.support.library import (
    WAY_OF_KINGS,
    age,
    audible,
    book,
    seed_entries,
    snapshot,
    way_of_kings,
)

RULES = load_rules()
KINGS_FOLDER = "The Stormlight Archive vol_01 (2010) (Brandon Sanderson) {ASIN.B003ZWFO7E}"


def staging_pipeline():  # the real stage, instrumented stand-ins for the later ones
    return {
        **instrumented_pipeline(),
        Stage.STAGE: StageSpec(Stage.STAGE, staging.run, staging.artifacts_missing),
    }


@pytest.fixture
def kings(settings: Settings) -> Release:
    assert settings.library_dir is not None
    folder = book(
        settings.library_dir / WAY_OF_KINGS,
        {"The Way of Kings.m4b": b"m4b" * 100, "cover.jpg": b"jpg", "extra.nfo": b"nfo"},
        metadata=way_of_kings(),
    )
    age(settings.library_dir)
    (candidate,) = discover(settings).releases
    assert candidate.source_dir == folder.resolve()
    return candidate.to_release()


def releases_in(seed: Path) -> list[str]:
    return [p.name for p in seed_entries(seed)]


def inode(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def test_stage_hardlinks_every_selected_file_under_mam_names(settings, kings):
    staged = stage_release(settings, kings, RULES)
    folder = settings.seed_folder / KINGS_FOLDER
    assert staged.folder == folder and folder.is_dir()
    assert sorted(os.listdir(folder)) == [f"{KINGS_FOLDER}.jpg", f"{KINGS_FOLDER}.m4b"]
    source = Path(kings.source_dir or "")
    assert inode(folder / f"{KINGS_FOLDER}.m4b") == inode(source / "The Way of Kings.m4b")
    assert inode(folder / f"{KINGS_FOLDER}.jpg") == inode(source / "cover.jpg")
    assert staged.linked == 2 and staged.copied == 0
    assert not [p for p in settings.seed_folder.iterdir() if p.name.startswith(PARTIAL_PREFIX)]


def test_multi_part_mp3_book_stages_every_part(settings):
    assert settings.library_dir is not None
    parts = [f"Guards! Guards! - Part {i}.mp3" for i in range(1, 13)]
    source = book(
        settings.library_dir / "Terry Pratchett/Discworld/Guards! Guards! [B0MP3BOOK1]",
        [*parts, "cover.jpg", "back.jpg"],
        metadata=audible("B0MP3BOOK1", "Guards! Guards!", authors=["Terry Pratchett"]),
    )
    age(settings.library_dir)
    (candidate,) = discover(settings).releases
    staged = stage_release(settings, candidate.to_release(), RULES)
    base = "Guards! Guards! (2020) (Terry Pratchett) {ASIN.B0MP3BOOK1}"
    assert staged.folder.name == base  # series without a position: the title form
    names = sorted(os.listdir(staged.folder))
    assert len(names) == 14
    assert f"{base} - Part 01.mp3" in names and f"{base} - Part 12.mp3" in names
    assert {f"{base}.jpg", f"{base} - 2.jpg"} <= set(names)
    for i, part in enumerate(parts, start=1):
        assert inode(staged.folder / f"{base} - Part {i:02d}.mp3") == inode(source / part)


def test_rerun_is_a_noop(settings, kings):
    first = stage_release(settings, kings, RULES)
    before = {p.name: inode(p) for p in first.folder.iterdir()}
    again = stage_release(settings, kings, RULES)
    assert again.reused == 2 and again.linked == 0
    assert {p.name: inode(p) for p in again.folder.iterdir()} == before


def test_a_different_file_under_our_name_is_never_overwritten(settings, kings):
    folder = settings.seed_folder / KINGS_FOLDER
    folder.mkdir(parents=True)
    (folder / f"{KINGS_FOLDER}.m4b").write_bytes(b"something else entirely")
    with pytest.raises(StagingError, match="different file") as info:
        stage_release(settings, kings, RULES)
    assert "delete the staged folder" in info.value.hint
    assert (folder / f"{KINGS_FOLDER}.m4b").read_bytes() == b"something else entirely"


def test_foreign_files_in_the_folder_are_an_error(settings, kings):
    staged = stage_release(settings, kings, RULES)
    (staged.folder / "sample.txt").write_text("not ours")
    with pytest.raises(StagingError, match=r"would not put there: sample\.txt"):
        stage_release(settings, kings, RULES)


def test_a_missing_file_in_an_existing_folder_is_added(settings, kings):
    staged = stage_release(settings, kings, RULES)
    (staged.folder / f"{KINGS_FOLDER}.jpg").unlink()
    again = stage_release(settings, kings, RULES)
    assert again.linked == 1 and again.reused == 1
    assert (staged.folder / f"{KINGS_FOLDER}.jpg").exists()


def test_leftover_partial_folder_is_replaced(settings, kings):
    partial = settings.seed_folder / f"{PARTIAL_PREFIX}{kings.asin}"
    partial.mkdir(parents=True)
    (partial / "half-written").write_text("crash")
    staged = stage_release(settings, kings, RULES)
    assert not partial.exists()
    assert "half-written" not in os.listdir(staged.folder)


def test_library_is_not_written(settings, kings):
    assert settings.library_dir is not None
    before = snapshot(settings.library_dir)
    stage_release(settings, kings, RULES)
    assert snapshot(settings.library_dir) == before


def test_source_gone_is_a_clear_input_error(settings, kings):
    shutil.rmtree(kings.source_dir or "")
    with pytest.raises(InputError, match=r"source folder .* is gone"):
        stage_release(settings, kings, RULES)


def test_ownership_and_umask_apply_to_what_we_create(tmp_path, redis_server, kings):
    if os.geteuid() != 0:
        pytest.skip("changing owners needs root")
    settings = make_settings(tmp_path, redis_server.url, puid=99, pgid=100, umask="002")
    staged = stage_release(settings, kings, RULES)
    folder_stat = staged.folder.stat()
    assert (folder_stat.st_uid, folder_stat.st_gid) == (99, 100)
    assert stat.S_IMODE(folder_stat.st_mode) == 0o775
    # A hardlink is the library's own inode: its owner is left alone.
    source = Path(kings.source_dir or "") / "The Way of Kings.m4b"
    linked = staged.folder / f"{KINGS_FOLDER}.m4b"
    assert linked.stat().st_uid == source.stat().st_uid == 0


def test_artifacts_missing(settings, kings):
    assert artifacts_missing(kings) == "no staged folder is recorded"
    staged = stage_release(settings, kings, RULES)
    done = kings.model_copy(
        update={"staging_dir": str(staged.folder), "staged_files": staged.names}
    )
    assert artifacts_missing(done) is None
    (staged.folder / f"{KINGS_FOLDER}.jpg").unlink()
    assert "is missing from" in (artifacts_missing(done) or "")
    shutil.rmtree(staged.folder)
    assert artifacts_missing(done) == f"staged folder {staged.folder} is gone"


# --------------------------------------------------------------------------- cross-filesystem


def test_cross_filesystem_refuses_with_advice(tmp_path, redis_server, kings, other_filesystem):
    settings = make_settings(tmp_path, redis_server.url, seed_dir=other_filesystem / "seed")
    problem = check_same_filesystem(settings)
    assert problem is not None
    assert "/dev/shm" in problem and "different filesystems" in problem
    assert "MAMFAST_STAGE_COPY_FALLBACK" in problem and "/data" in problem
    with pytest.raises(CrossDeviceError) as info:
        stage_release(settings, kings, RULES)
    assert "mounted at /dev/shm" in info.value.message
    assert "TRaSH" in info.value.hint
    assert releases_in(other_filesystem / "seed") == []  # no partial, never the real name


def test_a_full_seed_disk_is_said_plainly_and_leaves_no_partial_folder(
    tmp_path, redis_server, kings, other_filesystem, monkeypatch
):
    settings = make_settings(
        tmp_path, redis_server.url, seed_dir=other_filesystem / "seed", stage_copy_fallback=True
    )

    def disk_full(src, dst, **kwargs):
        Path(dst).write_bytes(b"half a co")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src), None, str(dst))

    monkeypatch.setattr(shutil, "copy2", disk_full)
    with pytest.raises(DiskFullError) as info:
        stage_release(settings, kings, RULES)
    assert info.value.message.startswith(f"no space left on the disk holding {settings.seed_dir}")
    assert "free some space" in info.value.hint
    assert releases_in(other_filesystem / "seed") == []


def test_copy_fallback_copies_with_a_warning(tmp_path, redis_server, kings, other_filesystem):
    settings = make_settings(
        tmp_path, redis_server.url, seed_dir=other_filesystem / "seed", stage_copy_fallback=True
    )
    staged = stage_release(settings, kings, RULES)
    assert staged.copied == 2
    assert any(w.startswith("staging: copied 2 file(s)") for w in staged.warnings)
    copy = staged.folder / f"{KINGS_FOLDER}.m4b"
    assert copy.read_bytes() == b"m4b" * 100
    again = stage_release(settings, kings, RULES)  # same size and content: a no-op
    assert again.reused == 2 and again.copied == 0
    copy.write_bytes(b"m4x" * 100)  # same size, other content
    with pytest.raises(StagingError, match="different file"):
        stage_release(settings, kings, RULES)


def test_same_filesystem_check_passes(settings):
    assert check_same_filesystem(settings) is None


# --------------------------------------------------------------------------- through the engine


async def test_stage_job_records_the_folder_and_files(make_services, settings, kings):
    res = await make_services(staging_pipeline())
    await submit(res.engine, kings)
    await drain(settings, res.engine.stages, res.engine.store)
    record = await res.engine.store.get(kings.asin)
    assert record is not None and record.status is Status.READY
    folder = settings.seed_folder / KINGS_FOLDER
    assert record.staging_dir == str(folder)
    assert record.staged_files == [f"{KINGS_FOLDER}.jpg", f"{KINGS_FOLDER}.m4b"]
    assert record.details["naming"]["truncated"] is False
    assert record.details["naming"]["dropped"] == []
    assert record.details["staging"] == {"linked": 2, "copied": 0, "reused": 0}
    source = Path(kings.source_dir or "")
    assert inode(folder / f"{KINGS_FOLDER}.m4b") == inode(source / "The Way of Kings.m4b")


async def test_resume_restages_a_vanished_folder(make_services, settings, kings, redis):
    from tests.support.engine_stages import plan

    res = await make_services(staging_pipeline())
    await redis.hset(plan(kings.asin, "torrent"), "permanent", 1)
    await submit(res.engine, kings)
    await drain(settings, res.engine.stages, res.engine.store)
    failed = await res.engine.store.get(kings.asin)
    assert failed is not None and failed.stage is Stage.TORRENT

    shutil.rmtree(settings.seed_folder / KINGS_FOLDER)
    await redis.delete(plan(kings.asin, "torrent"))
    assert (await control.retry(res.engine, kings.asin)).ok
    await drain(settings, res.engine.stages, res.engine.store)
    final = await res.engine.store.get(kings.asin)
    assert final is not None and final.status is Status.READY
    assert (settings.seed_folder / KINGS_FOLDER / f"{KINGS_FOLDER}.m4b").exists()
    assert any(w.startswith("resume: staged folder") for w in final.warnings)


async def test_bad_input_needs_attention_with_a_reason(make_services, settings):
    res = await make_services(staging_pipeline())
    release = Release(
        asin="B0GONEGONE",
        title="Gone",
        source_dir=str(settings.library_dir / "nowhere"),  # type: ignore[operator]
        book=BookInfo(title="Gone", series=[SeriesRef(name="S", position="1")]),
    )
    await submit(res.engine, release)
    await drain(settings, res.engine.stages, res.engine.store)
    record = await res.engine.store.get("B0GONEGONE")
    assert record is not None and record.status is Status.NEEDS_ATTENTION
    assert record.error_type == "InputError"
    assert "is gone" in (record.last_error or "") and "What to do" in (record.last_error or "")


def test_a_record_without_book_data_is_named_from_its_title(settings, kings):
    bare = kings.model_copy(update={"book": BookInfo(), "title": "Imported Title"})
    staged = stage_release(settings, bare, RULES)
    assert staged.folder.name == "Imported Title {ASIN.B003ZWFO7E}"


async def test_enqueue_and_stage_a_whole_library(make_services, settings):
    from mamfast.ops.enqueue import enqueue

    library = settings.library_dir
    assert library is not None
    book(
        library / "Brandon Sanderson/The Stormlight Archive/The Way of Kings [B003ZWFO7E]",
        ["The Way of Kings.m4b", "cover.jpg"],
        metadata=audible(
            "B003ZWFO7E",
            "The Way of Kings",
            authors=["Brandon Sanderson"],
            series=("The Stormlight Archive", "1"),
        ),
    )
    book(
        library / "Terry Pratchett/Discworld/Guards! Guards! vol_08 [B0MP3BOOK1]",
        [f"Part {i}.mp3" for i in range(1, 4)] + ["cover.jpg", "back.png"],
    )
    book(library / "Andy Weir/Project Hail Mary [B08G9PRS1K]", ["Project Hail Mary.m4b"])
    book(library / "Nobody/Mystery Book", ["book.m4b"])
    book(library / "Twins/One [B0DUPDUPDU]", ["a.m4b"])
    book(library / "Twins/Two {ASIN.B0DUPDUPDU}", ["b.m4b"])
    age(library)

    res = await make_services(staging_pipeline())
    report = await enqueue(res.engine)
    assert sorted(r.asin for r in report.releases) == ["B003ZWFO7E", "B08G9PRS1K", "B0MP3BOOK1"]
    assert [r.reason[:6] for r in report.discovery.rejects] == ["no ASI"]
    assert report.discovery.duplicates[0].asin == "B0DUPDUPDU"
    await drain(settings, res.engine.stages, res.engine.store)

    records = {r.asin: r for r in await res.engine.store.all()}
    assert {r.status for r in records.values()} == {Status.READY}
    assert Path(records["B0MP3BOOK1"].staging_dir or "").name == (
        "Discworld vol_08 (Terry Pratchett) {ASIN.B0MP3BOOK1}"
    )
    for record in records.values():
        folder = Path(record.staging_dir or "")
        source_inodes = {inode(p) for p in Path(record.source_dir or "").iterdir()}
        staged = sorted(os.listdir(folder))
        assert staged == record.staged_files
        assert all(inode(folder / name) in source_inodes for name in staged)
    assert len(records["B0MP3BOOK1"].staged_files) == 5  # every part, both covers


def test_hostile_metadata_cannot_escape_the_seed_folder(settings):
    assert settings.library_dir is not None
    book(
        settings.library_dir / "Evil/Evil Book [B0EVIL0001]",
        ["a.m4b"],
        metadata=audible("B0EVIL0001", "../../../../etc/x\x00y", authors=["../../root"]),
    )
    age(settings.library_dir)
    (candidate,) = discover(settings).releases
    staged = stage_release(settings, candidate.to_release(), RULES)
    assert staged.folder.parent == settings.seed_folder
    assert staged.folder.name == "etc-x y (2020) (root) {ASIN.B0EVIL0001}"
    assert releases_in(settings.seed_folder) == [staged.folder.name]
