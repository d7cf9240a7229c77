"""A folder the workers cannot write: one clear `needs_attention`, and doctor sees it too.

The workers run as PUID:PGID (the container's entry point drops root), while
`docker compose exec ... mamfast doctor` and `retry` run as root. These tests run as
root with folders owned by other uids, so the refusals are the kernel's, not mocked.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamfast.errors import FolderPermissionError
from mamfast.fs.permissions import configured_folders, permission_error
from mamfast.ops import doctor
from mamfast.ops.demo import write_demo_library
from tests.conftest import make_settings
from tests.support.owners import chown_tree, free_ids, owners, shared_folder
from tests.support.processes import ROOT, settings_env, stop, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as others")

DEMO_ASINS = {"B0DEMO0001", "B0DEMO0002", "B0DEMO0003"}


@pytest.fixture
def data_root() -> Iterator[Path]:
    """A TRaSH-style /data where other users can reach it."""
    with shared_folder("mamfast-perm-") as root:
        yield root


def as_user(uid: int) -> list[str]:
    """The prefix that runs a command as uid:uid with no other groups (as the entry point
    does), keeping only the right to read and search: the interpreter may live where only
    root can read (a pyenv under /root), while every write is still judged as that uid."""
    caps = "+dac_read_search"
    return [
        *("setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"),
        *(f"--inh-caps={caps}", f"--ambient-caps={caps}", "--"),
    ]


def layout(data_root: Path, redis_url: str, owner: int, **overrides: object):
    """/data with the demo library and a torrents folder, all owned by `owner`."""
    data = data_root / "data"
    library = data / "media" / "audiobooks"
    write_demo_library(library)
    (data / "torrents").mkdir()
    chown_tree(data, owner, owner)
    return make_settings(
        data_root,
        redis_url,
        library_dir=library,
        seed_dir=data / "torrents" / "mam",
        torrent_dir=data / "torrents" / "mam-files",
        data_dir=data_root / "config",
        **overrides,
    )


def test_the_error_names_the_folder_its_owner_mode_and_the_fix(data_root, redis_server):
    (owner,) = free_ids(1)
    settings = layout(data_root, redis_server.url, owner)
    target = settings.seed_folder
    error = permission_error(
        configured_folders(settings), PermissionError(13, "Permission denied", str(target))
    )
    assert isinstance(error, FolderPermissionError)  # permanent: a retry cannot fix it
    text = str(error)
    assert str(target) in text and "MAMFAST_SEED_DIR" in text
    assert f"{target.parent} has owner {owner}:{owner}, mode drwxr-xr-x" in text
    assert f"PUID={owner} and PGID={owner}" in error.hint
    assert "stat -c '%u:%g'" in error.hint and "UMASK=002" in error.hint
    assert "mamfast retry --all-failed" in error.hint


async def test_doctor_as_root_checks_folders_as_puid_pgid(data_root, redis_server):
    owner, stranger = free_ids(2)
    wrong = layout(data_root, redis_server.url, owner, puid=stranger, pgid=stranger)
    checks = {c.name: c for c in await doctor.run_checks(wrong)}
    writable, links = checks["output folders"], checks["hardlinks"]
    assert not writable.ok and not links.ok
    assert f"mamfast runs as uid {stranger}, gid {stranger}" in writable.detail
    assert writable.detail.endswith("(PUID/PGID: the user the workers run as)")
    assert f"the torrent dir {wrong.torrent_folder} too" in writable.detail  # said once
    assert f"owner {owner}:{owner}" in writable.detail
    assert f"PUID={owner} and PGID={owner}" in writable.fix
    assert checks["library"].ok  # readable by everyone
    assert not wrong.seed_folder.exists()  # the refused check created nothing

    right = wrong.model_copy(update={"puid": owner, "pgid": owner})
    checks = {c.name: c for c in await doctor.run_checks(right)}
    for name in ("library", "output folders", "hardlinks"):
        assert checks[name].ok and not checks[name].skipped, checks[name].detail
        assert f"checked as uid {owner}, gid {owner}" in checks[name].detail
    assert wrong.seed_folder.stat().st_uid == owner  # made by the probe as PUID, not as root


async def test_doctor_without_puid_checks_as_itself(data_root, redis_server):
    (owner,) = free_ids(1)
    settings = layout(data_root, redis_server.url, owner)
    check = await doctor.check_writable(settings)
    assert check.ok and check.detail.endswith("checked as uid 0, gid 0")


@pytest.mark.slow
async def test_a_worker_without_write_access_stops_each_release_once_then_retry_finishes(
    data_root, redis_server, redis
):
    """The compose failure on the host: the worker runs as another uid than the owner."""
    owner, stranger = free_ids(2)
    settings = layout(data_root, redis_server.url, owner, umask="002")
    env = settings_env(settings)
    cli_env = {k: v for k, v in env.items() if k.startswith("MAMFAST_")}
    log = data_root / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [*as_user(stranger), sys.executable, "-m", "mamfast", "worker", "--queue", "all"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    runner = CliRunner()

    def mamfast(*args: str) -> str:
        from mamfast.cli.app import app

        result = runner.invoke(app, list(args), env=cli_env)
        assert result.exit_code in (0, 1), result.output
        return result.output

    async def records() -> dict[str, dict[str, object]]:
        out = await asyncio.to_thread(mamfast, "status", "--json")
        return {r["asin"]: r for r in json.loads(out)}

    async def all_in(status: str) -> bool:
        found = await records()
        return set(found) == DEMO_ASINS and {r["status"] for r in found.values()} == {status}

    try:
        await asyncio.to_thread(mamfast, "enqueue")
        await wait_until(lambda: all_in("needs_attention"), timeout=60, what="needs_attention")
        await asyncio.sleep(1)  # nothing retries behind our back
        for record in (await records()).values():
            assert record["status"] == "needs_attention"
            assert record["error_type"] == "FolderPermissionError"
            assert record["attempts"] == {"stage": 1}
            error = str(record["last_error"])
            assert f"{settings.seed_folder.parent} has owner {owner}:{owner}" in error
            assert f"mamfast runs as uid {stranger}, gid {stranger}" in error
            assert f"PUID={owner} and PGID={owner}" in error

        chown_tree(settings.seed_folder.parent.parent, stranger, stranger)  # fix the ownership
        assert "3" in await asyncio.to_thread(mamfast, "retry", "--all-failed")
        await wait_until(lambda: all_in("ready"), timeout=90, what="ready after the retry")
    finally:
        stop(worker)
    staged = [p for p in settings.seed_folder.rglob("*") if p.is_dir()]
    assert staged and owners(staged) == {(stranger, stranger)}
