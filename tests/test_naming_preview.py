"""`mamfast cleanup` and `mamfast naming preview`, against a real Redis and real folders."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamfast import keys, locks
from mamfast.cleanup import cleanup
from mamfast.cli.app import app
from mamfast.errors import MamfastError
from mamfast.models import Release
from mamfast.stages.staging import PARTIAL_PREFIX
from tests.support.engine_stages import instrumented_pipeline
from tests.support.library import age, audible, book

OWNED = "Owned Book (2020) (A) {ASIN.B0OWNED001}"
ORPHAN = "Old Name (2020) (A) {ASIN.B0OWNED001}"  # same release, folder from an older naming
STRANGER = "Someone Else's Download"


def linked_folder(seed: Path, name: str, source: Path) -> Path:
    folder = seed / name
    folder.mkdir(parents=True)
    os.link(source, folder / f"{name}.m4b")
    return folder


@pytest.fixture
async def seed_tree(settings, make_resources, tmp_path):
    res = await make_resources(instrumented_pipeline())
    seed = settings.seed_path
    source = tmp_path / "library" / "a.m4b"
    source.write_bytes(b"audio")
    owned = linked_folder(seed, OWNED, source)
    await res.store.create(Release(asin="B0OWNED001", staging_dir=str(owned)))
    linked_folder(seed, ORPHAN, source)
    linked_folder(seed, "In Use (2020) {ASIN.B0INUSE001}", source)
    copy = seed / "Copied (2020) {ASIN.B0COPIED01}"
    copy.mkdir()
    (copy / "only-copy.m4b").write_bytes(b"unique")
    (seed / STRANGER).mkdir()
    (seed / f"{PARTIAL_PREFIX}B0CRASHED1").mkdir()
    (seed / f"{PARTIAL_PREFIX}B0BUSYBUSY").mkdir()
    await locks.try_acquire(res.redis, keys.release_lock("B0BUSYBUSY"), ttl=30, purpose="test")
    return res


async def in_use(path: Path) -> bool:
    return "B0INUSE001" in path.name


async def test_dry_run_lists_and_removes_nothing(seed_tree, settings):
    before = sorted(os.listdir(settings.seed_path))
    report = await cleanup(seed_tree, in_use=in_use, dry_run=True)
    assert sorted(os.listdir(settings.seed_path)) == before
    actions = {item.path.name: item.action for item in report.items}
    assert actions == {
        ORPHAN: "would remove",
        "In Use (2020) {ASIN.B0INUSE001}": "kept",
        "Copied (2020) {ASIN.B0COPIED01}": "kept",
        f"{PARTIAL_PREFIX}B0CRASHED1": "would remove",
        f"{PARTIAL_PREFIX}B0BUSYBUSY": "kept",
    }


async def test_cleanup_removes_only_what_is_safe(seed_tree, settings, tmp_path):
    report = await cleanup(seed_tree, in_use=in_use, dry_run=False)
    left = set(os.listdir(settings.seed_path))
    assert left == {
        OWNED,
        STRANGER,
        "In Use (2020) {ASIN.B0INUSE001}",
        "Copied (2020) {ASIN.B0COPIED01}",
        f"{PARTIAL_PREFIX}B0BUSYBUSY",
    }
    assert {i.path.name for i in report.items if i.action == "removed"} == {
        ORPHAN,
        f"{PARTIAL_PREFIX}B0CRASHED1",
    }
    reasons = {i.path.name: i.reason for i in report.items}
    assert "torrent in the client" in reasons["In Use (2020) {ASIN.B0INUSE001}"]
    assert "exist nowhere else" in reasons["Copied (2020) {ASIN.B0COPIED01}"]
    assert (tmp_path / "library" / "a.m4b").read_bytes() == b"audio"  # links gone, data kept


async def test_default_in_use_is_nothing(seed_tree):
    report = await cleanup(seed_tree, dry_run=True)
    names = {i.path.name for i in report.items if i.action == "would remove"}
    assert "In Use (2020) {ASIN.B0INUSE001}" in names


async def test_qbittorrent_decides_what_is_in_use(
    settings, make_resources, qbit_server, qbit_admin, tmp_path
):
    from pydantic import SecretStr

    from mamfast.cleanup import client_in_use
    from tests.support.torrent_files import make_torrent

    res = await make_resources(
        instrumented_pipeline(),
        qbit_url=qbit_server.url,
        qbit_username=qbit_server.username,
        qbit_password=SecretStr(qbit_server.password),
    )
    source = tmp_path / "library" / "b.m4b"
    source.write_bytes(b"seeded audio")
    seeded = linked_folder(settings.seed_path, "Seeded (2021) {ASIN.B0SEEDED01}", source)
    orphan = linked_folder(settings.seed_path, "Orphan (2021) {ASIN.B0ORPHAN01}", source)
    torrent = tmp_path / "seeded.torrent"
    infohash = make_torrent(seeded, torrent)
    qbit_admin.torrents_add(
        torrent_files=torrent.read_bytes(), save_path=str(settings.seed_path), is_paused=True
    )
    for _ in range(100):  # qBittorrent answers `Ok.` before it lists the torrent
        if qbit_admin.torrents_info(torrent_hashes=infohash):
            break
        await asyncio.sleep(0.05)
    report = await cleanup(res, in_use=await client_in_use(res), dry_run=True)
    actions = {i.path.name: i.action for i in report.items}
    assert actions == {seeded.name: "kept", orphan.name: "would remove"}

    qbit_server.stop()  # cannot ask the client: refuse rather than guess
    try:
        with pytest.raises(MamfastError, match="nothing was removed"):
            await client_in_use(res)
    finally:
        qbit_server.start()


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(monkeypatch, settings, redis_server):
    assert settings.library_dir is not None
    monkeypatch.setenv("MAMFAST_LIBRARY_DIR", str(settings.library_dir))
    monkeypatch.setenv("MAMFAST_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MAMFAST_REDIS_URL", redis_server.url)
    monkeypatch.setenv("MAMFAST_SETTLE_SECONDS", "0")
    monkeypatch.setenv("MAMFAST_RIPPER_TAG", "Tag")
    return settings


def test_naming_preview_json(cli_env):
    library = cli_env.library_dir
    book(
        library / "Long/Very Long [B0LONGLONG]",
        ["a.m4b"],
        metadata=audible("B0LONGLONG", "x", authors=["Some Author"], series=("S" * 150, "2")),
    )
    book(library / "Short/Project Hail Mary [B08G9PRS1K]", ["Project Hail Mary.m4b"])
    book(library / "Bad/No Asin", ["a.m4b"])
    age(library)
    result = CliRunner().invoke(app, ["naming", "preview", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {r["asin"]: r for r in data["releases"]}
    assert rows["B0LONGLONG"]["truncated"] is True
    assert rows["B0LONGLONG"]["dropped"] == ["author", "year"]
    assert rows["B08G9PRS1K"]["folder"] == "Project Hail Mary (Short) {ASIN.B08G9PRS1K} [Tag]"
    assert rows["B08G9PRS1K"]["files"] == {
        "Project Hail Mary.m4b": "Project Hail Mary (Short) {ASIN.B08G9PRS1K}.m4b"
    }
    assert data["rejects"][0]["reason"].startswith("no ASIN")


def test_naming_preview_table_flags_truncation(cli_env):
    library = cli_env.library_dir
    book(
        library / "Long/Very Long [B0LONGLONG]",
        ["a.m4b"],
        metadata=audible("B0LONGLONG", "x", authors=["Some Author"], series=("S" * 150, "2")),
    )
    age(library)
    result = CliRunner().invoke(app, ["naming", "preview", str(library / "Long")])
    assert result.exit_code == 0, result.output
    assert "1 release(s), 1 shortened or with parts dropped" in " ".join(result.output.split())
    assert "shortened" in result.output


def test_naming_preview_reports_a_bad_rules_file(cli_env, monkeypatch, tmp_path):
    bad = tmp_path / "naming.json"
    bad.write_text("{")
    monkeypatch.setenv("MAMFAST_NAMING_FILE", str(bad))
    result = CliRunner().invoke(app, ["naming", "preview"])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output


def test_cleanup_cli(cli_env, redis):
    seed = cli_env.seed_path
    (seed / f"{PARTIAL_PREFIX}B0CRASHED1").mkdir(parents=True)
    listed = CliRunner().invoke(app, ["cleanup", "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert "would remove" in listed.output and "--no-dry-run" in listed.output
    assert (seed / f"{PARTIAL_PREFIX}B0CRASHED1").exists()
    removed = CliRunner().invoke(app, ["cleanup", "--json"])  # not a terminal: removes
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.output)["items"][0]["action"] == "removed"
    assert not (seed / f"{PARTIAL_PREFIX}B0CRASHED1").exists()
