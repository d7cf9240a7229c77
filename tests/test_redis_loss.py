"""After Redis loses everything, work on disk is found by ASIN, not by today's folder name.

Libation rewrites a book's metadata now and then (a release date appears), so the
MAM folder name computed today can differ from the one staged before. With the
record gone, the staged folder and the torrent must still be found by their
`{ASIN.X}` token: no second staged folder, no second torrent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mamfast.models import Release, Status
from mamfast.ops.demo import write_demo_library
from mamfast.ops.runner import run
from mamfast.stages import default_pipeline
from tests.support.library import age, snapshot
from workers.serve import serve

ASIN = "B0DEMO0002"


def for_asin(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if f"{{ASIN.{ASIN}}}" in p.name)


def change_release_date(library: Path) -> None:
    """What Libation does when Audible's record gains or changes a release date."""
    (meta,) = library.rglob(f"*{ASIN}*/*.metadata.json")
    data = json.loads(meta.read_text())
    data["release_date"] = "2022-06-01"
    meta.write_text(json.dumps(data))
    age(library)


async def run_all(settings):
    return await run(settings, stages=default_pipeline(settings), serve=serve)


async def test_a_changed_name_after_redis_loss_reuses_the_folder_and_the_torrent(settings, redis):
    write_demo_library(settings.library_dir)
    first = await run_all(settings)
    before = {r.asin: r for r in first.releases}
    assert before[ASIN].status is Status.READY
    (staged,) = for_asin(settings.seed_folder)
    assert "(2021)" in staged

    await redis.flushdb()
    change_release_date(settings.library_dir)
    second = await run_all(settings)

    after = {r.asin: r for r in second.releases}
    assert after[ASIN].status is Status.READY, after[ASIN].last_error
    assert for_asin(settings.seed_folder) == [staged]  # no second staged folder
    assert for_asin(settings.torrent_folder) == [staged]  # no second torrent
    assert after[ASIN].infohash == before[ASIN].infohash
    assert after[ASIN].staging_dir == before[ASIN].staging_dir


async def test_with_the_staged_folder_gone_too_no_second_torrent_is_made(settings, redis):
    write_demo_library(settings.library_dir)
    first = await run_all(settings)
    old = next(r for r in first.releases if r.asin == ASIN)
    assert old.staging_dir and old.torrent_path

    await redis.flushdb()
    shutil.rmtree(old.staging_dir)
    change_release_date(settings.library_dir)
    kept = snapshot(Path(old.torrent_path).parent)
    second = await run_all(settings)

    again = next(r for r in second.releases if r.asin == ASIN)
    assert again.status is Status.NEEDS_ATTENTION
    assert old.torrent_path in (again.last_error or "")
    assert "second torrent" in (again.last_error or "")
    assert for_asin(settings.torrent_folder) == [Path(old.staging_dir).name]
    assert snapshot(Path(old.torrent_path).parent) == kept
    assert for_asin(settings.seed_folder) == []


async def test_the_torrent_stage_refuses_a_second_torrent_for_an_asin(make_services, settings):
    from mamfast.errors import InfohashMismatchError
    from mamfast.stages import torrent
    from tests.support.torrent_data import book as staged_book
    from tests.support.torrent_files import make_torrent

    res = await make_services({})
    asin = "B0TEST0001"
    old = staged_book(settings.seed_folder, f"Old Name (2021) {{ASIN.{asin}}}", parts=1)
    old_torrent = settings.torrent_folder / old.name / f"{old.name}.torrent"
    make_torrent(old, old_torrent)
    new = staged_book(settings.seed_folder, f"New Name (2022) {{ASIN.{asin}}}", parts=2)

    with pytest.raises(InfohashMismatchError, match="never become two torrents") as info:
        await torrent.run(res, Release(asin=asin, staging_dir=str(new)))
    assert str(old_torrent) in info.value.message
    assert for_asin_in(settings.torrent_folder, asin) == [old.name]


def for_asin_in(folder: Path, asin: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if f"{{ASIN.{asin}}}" in p.name)
