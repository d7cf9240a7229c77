"""One owner and one mode for everything mamfast creates, one atomic writer for every file.

PUID/PGID/UMASK (`mamfast.fs.owner`) and the temp-fsync-rename writer (`mamfast.fs.atomic`)
are shared by staging, the metadata outputs, the .torrent and the staging ledger. These
tests run as root so owners can really be given away; refusals are the kernel's, from a
child that dropped to another uid.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from mamfast.engine.transitions import advance
from mamfast.errors import FolderPermissionError
from mamfast.fs.atomic import temp_files, write_atomic
from mamfast.fs.owner import Owner, make_dirs
from mamfast.fs.permissions import Identity, call_as
from mamfast.library.discovery import discover
from mamfast.models import Release
from mamfast.stages import metadata, staging
from mamfast.stages import torrent as torrent_stage
from mamfast.stages.ledger import ledger_file
from mamfast.torrents.create import write_torrent_atomic
from tests.support.engine_stages import instrumented_pipeline
from tests.support.library import WAY_OF_KINGS, age, book, way_of_kings
from tests.support.netguard import loopback_only  # noqa: F401  (fixture)
from tests.support.owners import free_ids, shared_folder
from tests.support.processes import ROOT
from tests.support.torrent_data import ANNOUNCE

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to other users"),
    pytest.mark.usefixtures("loopback_only"),
]

AUDIO = Path(__file__).resolve().parent / "fixtures" / "audio"


def owner_and_mode(path: Path) -> tuple[int, int, int]:
    info = path.lstat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- one owner, one mode


async def test_every_file_and_folder_the_stages_create_gets_puid_pgid_and_umask(
    make_services, audnex, settings
):
    uid, gid = free_ids(2)
    res = await make_services(
        instrumented_pipeline(),
        puid=uid,
        pgid=gid,
        umask="027",
        audnex_url=audnex.url,
        announce_url=SecretStr(ANNOUNCE),
    )
    assert settings.library_dir is not None
    audio = (AUDIO / "book.m4b").read_bytes()
    source = book(
        settings.library_dir / WAY_OF_KINGS,
        {"The Way of Kings.m4b": audio, "cover.jpg": b"\xff\xd8\xff"},
        metadata=way_of_kings(),
    )
    age(settings.library_dir)
    (candidate,) = discover(settings).releases
    release: Release = candidate.to_release()
    for stage in (staging, metadata, torrent_stage):
        result = await stage.run(res, release)
        release = advance(release, release.stage, result)

    assert release.staging_dir and release.json_path and release.torrent_path
    staged = Path(release.staging_dir)
    torrent_folder = Path(release.torrent_path).parent
    folders = [
        settings.seed_folder,
        staged,
        ledger_file(settings, release.asin).parent,
        settings.torrent_folder,
        torrent_folder,
    ]
    files = [
        Path(release.json_path),
        Path(release.description_path or ""),
        Path(release.torrent_path),
        ledger_file(settings, release.asin),
    ]
    assert {p: owner_and_mode(p) for p in folders} == {p: (uid, gid, 0o750) for p in folders}
    # The JSON, the description, the ledger (0o666) and the .torrent (0o640: it holds the
    # passkey) all come out 0o640 under UMASK=027, and all PUID:PGID.
    assert {p: owner_and_mode(p) for p in files} == {p: (uid, gid, 0o640) for p in files}
    # Hardlinks are the library's own inodes: never given away.
    linked = next(staged.glob("*.m4b"))
    assert owner_and_mode(linked)[:2] == owner_and_mode(source / "The Way of Kings.m4b")[:2]
    assert sorted(torrent_folder.iterdir()) == sorted(
        [Path(release.json_path), Path(release.description_path or ""), Path(release.torrent_path)]
    )  # no temp file left beside them


def json_writer(target: Path, owner: Owner) -> None:
    write_atomic(target, '{"title": "x"}', owner=owner)


def torrent_writer(target: Path, owner: Owner) -> None:
    write_torrent_atomic(b"d4:infod4:name1:xee", target, owner=owner)


def folder_maker(target: Path, owner: Owner) -> None:
    make_dirs(target, owner)


@pytest.mark.parametrize("create", [json_writer, torrent_writer, folder_maker])
async def test_a_refused_owner_change_stops_with_the_same_error_everywhere(
    create: Callable[[Path, Owner], None],
):
    me, other = free_ids(2)
    with shared_folder("mamfast-owner-") as root:
        os.chown(root, me, me)
        target = root / ("Book" if create is folder_maker else "Book.out")

        def attempt() -> str:
            try:
                create(target, Owner(uid=other, gid=other))
            except FolderPermissionError as exc:
                return str(exc)
            return "no error"

        text = await call_as(Identity(me, me), None, attempt)
        assert f"cannot give {target} the owner set by PUID/PGID" in text
        assert f"(uid {other}, gid {other})" in text
        assert f"mamfast runs as uid {me}, gid {me}" in text and "unset them" in text
        assert not target.is_file() and temp_files(target) == []  # nothing half-made is left


# --------------------------------------------------------------------------- whole or absent

CHILD = """
import os, sys, time
from pathlib import Path
from mamfast.fs.atomic import write_atomic
from mamfast.fs.owner import Owner
from mamfast.torrents.create import write_torrent_atomic
kind, target, ready, uid = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
def stuck(fd):  # the first fsync is the temp file's, after its data, before the rename
    ready.write_text("1")
    time.sleep(600)
os.fsync = stuck
owner = Owner(uid, uid, 0o027)
if kind == "torrent":
    write_torrent_atomic(b"d4:infod4:name1:xee" * 300_000, target, owner=owner)
else:
    write_atomic(target, "x" * 5_000_000, owner=owner)
"""


@pytest.mark.parametrize("kind", ["json", "torrent"])
def test_a_crash_before_the_rename_keeps_the_old_file_whole(tmp_path, kind):
    (uid,) = free_ids(1)
    target = tmp_path / "Book" / f"Book.{kind}"
    write_atomic(target, b"old")
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, kind, str(target), str(ready), str(uid)], cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, "the writer exited early"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()

    assert target.read_bytes() == b"old"  # never a partial file under the final name
    (leftover,) = temp_files(target)
    # The temp file already had its final owner and mode: the rename only makes it visible.
    assert owner_and_mode(leftover) == (uid, uid, 0o640)
    assert leftover.stat().st_size > 1_000_000
    write_atomic(target, b"new", stale_after=0)  # the sole writer (it holds the lock)
    assert target.read_bytes() == b"new" and temp_files(target) == []


# --------------------------------------------------------------------------- UMASK outside Docker


def test_a_command_applies_umask_outside_docker(tmp_path):
    """No entry point script runs outside Docker: `UMASK=077` must still reach the files."""
    folder = book(tmp_path / "Book", {"a.m4b": b"a" * 1000})
    out = tmp_path / "out" / "Book.torrent"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAMFAST_")},
        "UMASK": "077",
        "MAMFAST_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "mamfast", "torrent", "create", str(folder), "-o", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        umask=0o022,
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # 0o640 under the inherited 022
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700


async def test_worker_start_applies_umask(settings, redis):
    from workers import jobs

    os.umask(0o022)
    ctx = {
        "settings": settings.model_copy(update={"umask": "027"}),
        "redis": redis,
        "stages": instrumented_pipeline(),
        "queue": "mamfast:queue:hash",
    }
    await jobs.startup(ctx)
    try:
        assert current_umask() == 0o027
    finally:
        await jobs.shutdown(ctx)
