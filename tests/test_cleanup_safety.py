"""`mamfast cleanup` removes only what mamfast provably made and nobody can be using.

Provably made: the staging ledger lists it (a folder name in `{ASIN.X}` form is
not proof: the old tool and people name folders the same way). Nobody using
it: no release record points at it, its release is not being processed, it did
not change within a lease, and qBittorrent says no torrent uses it (without a
client, mamfast cannot know, so it keeps it).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from mamfast.engine import keys, locks
from mamfast.models import Release
from mamfast.ops.cleanup import cleanup
from mamfast.stages import ledger as ownership
from mamfast.stages.staging import PARTIAL_PREFIX
from tests.support.engine_stages import instrumented_pipeline

ASIN = "B0ORPHAN01"
ORPHAN = f"Old Name (2020) (A) {{ASIN.{ASIN}}}"
CURRENT = f"New Name (2021) (A) {{ASIN.{ASIN}}}"
AN_HOUR_AGO = time.time() - 3600


def linked(seed: Path, name: str, library_file: Path) -> Path:
    """A folder of hardlinks into the library, dated an hour back."""
    folder = seed / name
    folder.mkdir(parents=True)
    os.link(library_file, folder / f"{name[:20]}.m4b")
    os.utime(folder, (AN_HOUR_AGO, AN_HOUR_AGO))
    return folder


@pytest.fixture
def library_file(settings) -> Path:
    path = settings.library_dir / "a.m4b"
    path.write_bytes(b"audio")
    return path


@pytest.fixture
async def res(make_services):
    return await make_services(instrumented_pipeline())


async def made_by_us(res, name: str, library_file: Path, asin: str = ASIN) -> Path:
    ownership.add_made(res.settings, asin, name)
    return linked(res.settings.seed_folder, name, library_file)


async def nobody_uses(path: Path) -> bool:
    return False


async def test_only_ledgered_orphans_go_when_the_client_says_they_are_unused(
    res, settings, library_file
):
    seed = settings.seed_folder
    orphan = await made_by_us(res, ORPHAN, library_file)
    current = await made_by_us(res, CURRENT, library_file)
    await res.engine.store.create(Release(asin=ASIN, staging_dir=str(current)))
    report = await cleanup(res.engine, in_use=nobody_uses, apply=True)
    assert [(i.path.name, i.action) for i in report.items] == [(ORPHAN, "removed")]
    assert not orphan.exists() and current.is_dir()
    assert ownership.made(settings, ASIN) == [CURRENT]
    assert library_file.read_bytes() == b"audio"  # links gone, data kept
    assert sorted(os.listdir(seed)) == sorted([CURRENT, ownership.LEDGER_DIR])


async def test_without_apply_nothing_is_removed(res, library_file):
    orphan = await made_by_us(res, ORPHAN, library_file)
    report = await cleanup(res.engine, in_use=nobody_uses)
    assert report.dry_run and [i.action for i in report.items] == ["would remove"]
    assert orphan.is_dir()


@pytest.mark.parametrize(
    "name",
    [
        "Some.Other.Download [BESTSELLER]",  # `[X]` looks like an ASIN to discovery
        f"Somebody's Own (2020) {{ASIN.{ASIN}}}",  # our naming, but not made by us
        f"{PARTIAL_PREFIX}B0NOLEDGER",  # a partial name with no ledger behind it
    ],
)
async def test_folders_mamfast_did_not_make_are_never_touched(res, settings, library_file, name):
    folder = linked(settings.seed_folder, name, library_file)
    report = await cleanup(res.engine, in_use=nobody_uses, apply=True)
    assert report.items == []
    assert folder.is_dir() and len(os.listdir(folder)) == 1


async def test_without_a_torrent_client_a_staged_folder_is_kept(res, library_file):
    orphan = await made_by_us(res, ORPHAN, library_file)
    report = await cleanup(res.engine, in_use=None, apply=True)
    (item,) = report.items
    assert item.action == "kept" and "MAMFAST_QBIT_URL" in item.reason
    assert orphan.is_dir()


async def test_a_folder_the_client_seeds_is_kept(res, library_file):
    orphan = await made_by_us(res, ORPHAN, library_file)

    async def seeded(path: Path) -> bool:
        return path == orphan

    report = await cleanup(res.engine, in_use=seeded, apply=True)
    assert [i.action for i in report.items] == ["kept"]
    assert "qBittorrent" in report.items[0].reason and orphan.is_dir()


async def test_a_folder_whose_release_is_being_staged_is_kept(res, library_file):
    # Staging renamed the folder and holds the lock until it commits the record.
    orphan = await made_by_us(res, ORPHAN, library_file)
    await locks.try_acquire(res.redis, keys.release_lock(ASIN), ttl=30, purpose="stage job")
    report = await cleanup(res.engine, in_use=nobody_uses, apply=True)
    assert [i.action for i in report.items] == ["kept"]
    assert "being processed" in report.items[0].reason and orphan.is_dir()


async def test_a_folder_younger_than_a_lease_is_kept(res, library_file):
    orphan = await made_by_us(res, ORPHAN, library_file)
    os.utime(orphan)  # just now
    report = await cleanup(res.engine, in_use=nobody_uses, apply=True)
    assert [i.action for i in report.items] == ["kept"]
    assert "moments ago" in report.items[0].reason and orphan.is_dir()


async def test_a_partial_folder_left_by_a_crash_goes_without_a_client(res, settings):
    ownership.add_made(settings, ASIN, CURRENT)  # staging writes the ledger first
    partial = settings.seed_folder / f"{PARTIAL_PREFIX}{ASIN}"
    partial.mkdir(parents=True)
    os.utime(partial, (AN_HOUR_AGO, AN_HOUR_AGO))
    report = await cleanup(res.engine, in_use=None, apply=True)
    assert [(i.kind, i.action) for i in report.items] == [("partial", "removed")]
    assert not partial.exists()


async def test_a_damaged_record_keeps_its_folders(res, redis, library_file):
    orphan = await made_by_us(res, ORPHAN, library_file)
    await res.engine.store.create(Release(asin=ASIN))
    await redis.hset(keys.release(ASIN), "doc", '{"asin": "B0ORPHAN01", "stage": "gone"}')
    report = await cleanup(res.engine, in_use=nobody_uses, apply=True)
    assert [i.action for i in report.items] == ["kept"]
    assert "damaged" in report.items[0].reason and orphan.is_dir()


async def test_the_command_is_a_dry_run_unless_told_to_apply(cli, res, settings):
    ownership.add_made(settings, ASIN, CURRENT)
    partial = settings.seed_folder / f"{PARTIAL_PREFIX}{ASIN}"
    partial.mkdir(parents=True)
    os.utime(partial, (AN_HOUR_AGO, AN_HOUR_AGO))

    listed = await asyncio.to_thread(cli, "cleanup")  # standard output is not a terminal here
    assert listed.exit_code == 0, listed.output
    assert "would remove" in listed.output and "--apply" in listed.output
    assert partial.is_dir()
    piped = await asyncio.to_thread(cli, "cleanup", "--json")
    assert json.loads(piped.output)["items"][0]["action"] == "would remove"
    assert partial.is_dir()

    applied = await asyncio.to_thread(cli, "cleanup", "--apply", "--json")
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.output)["items"][0]["action"] == "removed"
    assert not partial.exists()


async def test_qbittorrent_decides_what_is_in_use(
    settings, make_services, qbit_server, qbit_admin, library_file, tmp_path
):
    from pydantic import SecretStr

    from mamfast.errors import MamfastError
    from mamfast.ops.cleanup import client_in_use
    from tests.support.torrent_files import make_torrent

    res = await make_services(
        instrumented_pipeline(),
        qbit_url=qbit_server.url,
        qbit_username=qbit_server.username,
        qbit_password=SecretStr(qbit_server.password),
    )
    seeded = await made_by_us(res, f"Seeded (2021) {{ASIN.{ASIN}}}", library_file)
    orphan = await made_by_us(res, ORPHAN, library_file)
    torrent = tmp_path / "seeded.torrent"
    infohash = make_torrent(seeded, torrent)
    qbit_admin.torrents_add(
        torrent_files=torrent.read_bytes(), save_path=str(settings.seed_folder), is_paused=True
    )
    for _ in range(100):  # qBittorrent answers `Ok.` before it lists the torrent
        if qbit_admin.torrents_info(torrent_hashes=infohash):
            break
        await asyncio.sleep(0.05)
    report = await cleanup(res.engine, in_use=await client_in_use(res.settings, res.qbit))
    actions = {i.path.name: i.action for i in report.items}
    assert actions == {seeded.name: "kept", orphan.name: "would remove"}

    qbit_server.stop()  # cannot ask the client: refuse rather than guess
    try:
        with pytest.raises(MamfastError, match="nothing was removed"):
            await client_in_use(res.settings, res.qbit)
    finally:
        qbit_server.start()
