"""The mkbrr backend, driven against a stand-in that behaves like mkbrr's CLI."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from mamfast.errors import ConfigError, TorrentError, TransientError
from mamfast.models import Release
from mamfast.stages import torrent as stage
from mamfast.torrents import read_torrent
from mamfast.torrents.mkbrr import WORK_DIR
from tests.conftest import make_settings
from tests.support.torrent_data import ANNOUNCE, book, mktorrent_infohash, tree

FAKE = Path(__file__).parent / "support" / "fake_mkbrr.py"
ASIN = "B0MKBRR001"
PRESET_URL = "https://t.myanonamouse.net/tracker.php/PRESETKEY/announce"


def preset(path: Path, **extra: object) -> Path:
    mam = {"trackers": [PRESET_URL], "source": "MAM", "private": True, **extra}
    doc = {"version": 1, "default": {"no_date": True}, "presets": {"mam": mam}}
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


@pytest.fixture
def settings(tmp_path, redis_server):
    """Staged folders in these tests live anywhere under tmp_path: make that the seed folder."""
    return make_settings(tmp_path, redis_server.url, seed_dir=tmp_path)


@pytest.fixture
def argv_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "argv.json"
    monkeypatch.setenv("FAKE_MKBRR_ARGV", str(path))
    return path


@pytest.fixture
async def mkbrr_res(make_services, tmp_path):
    async def factory(**overrides: object):  # type: ignore[no-untyped-def]
        values: dict[str, object] = {
            "torrent_backend": "mkbrr",
            "mkbrr_cmd": f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE))}",
            "mkbrr_preset_file": preset(tmp_path / "presets.yaml"),
            "mkbrr_timeout": 30.0,
            **overrides,
        }
        return await make_services({}, **values)

    return factory


def release(folder: Path) -> Release:
    return Release(asin=ASIN, staging_dir=str(folder))


async def test_mkbrr_result_is_checked_and_matches_the_builtin(
    mkbrr_res, make_services, tmp_path, argv_file
):
    folder = book(tmp_path / "seed")
    res = await mkbrr_res(announce_url=SecretStr(ANNOUNCE))
    result = await stage.run(res, release(folder))
    dest = Path(result.output.torrent_path)
    meta = read_torrent(dest)
    assert result.display["torrent"]["backend"] == "mkbrr"
    assert meta.infohash == result.output.infohash == mktorrent_infohash(folder, 15)
    # Our announce setting wins over the preset's tracker; the infohash does not change.
    assert meta.announce is not None and meta.announce.get_secret_value() == ANNOUNCE
    assert sorted(dest.parent.iterdir()) == [dest]  # mkbrr's work folder is gone

    argv = json.loads(argv_file.read_text())
    assert argv[:2] == ["create", str(folder)]
    assert "--quiet" in argv and argv[argv.index("-s") : argv.index("-s") + 2] == ["-s", "MAM"]
    assert argv[argv.index("-m") : argv.index("-m") + 2] == ["-m", "24"]
    assert not any("PASSKEY" in a for a in argv)  # never on the command line

    builtin = await stage.run(await make_services({}), release(folder))
    assert builtin.output.infohash == meta.infohash  # same folder, same torrent


async def test_docker_style_path_mapping(mkbrr_res, tmp_path, monkeypatch, argv_file):
    folder = book(tmp_path / "seed")
    monkeypatch.setenv("FAKE_MKBRR_MOUNTS", f"/data={tmp_path}")
    res = await mkbrr_res(mkbrr_path_map=f"{tmp_path}:/data")
    result = await stage.run(res, release(folder))
    argv = json.loads(argv_file.read_text())
    assert argv[1] == f"/data/seed/{folder.name}"
    assert argv[argv.index("--preset-file") + 1] == "/data/presets.yaml"
    assert argv[argv.index("--output-dir") + 1].startswith("/data/data/torrents/")
    assert read_torrent(Path(result.output.torrent_path)).infohash == mktorrent_infohash(folder, 15)


async def test_path_outside_the_mapping_is_refused_before_running(mkbrr_res, tmp_path, argv_file):
    folder = book(tmp_path / "elsewhere")
    res = await mkbrr_res(mkbrr_path_map="/mnt/user/data:/data")
    with pytest.raises(ConfigError, match="outside every MAMFAST_MKBRR_PATH_MAP prefix"):
        await stage.run(res, release(folder))
    assert not argv_file.exists()


async def test_timeout_is_applied_and_the_child_killed(mkbrr_res, tmp_path, monkeypatch):
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("FAKE_MKBRR_PIDFILE", str(pidfile))
    monkeypatch.setenv("FAKE_MKBRR_SLEEP", "60")
    folder = book(tmp_path / "seed")
    res = await mkbrr_res(mkbrr_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"mkbrr did not finish within 1s"):
        await stage.run(res, release(folder))
    assert time.monotonic() - started < 10
    assert_dead(int(pidfile.read_text()))
    assert not (stage.torrent_file(res.settings, folder.name).parent / WORK_DIR).exists()


async def test_cancel_kills_mkbrr(mkbrr_res, tmp_path, monkeypatch):
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("FAKE_MKBRR_PIDFILE", str(pidfile))
    monkeypatch.setenv("FAKE_MKBRR_SLEEP", "60")
    folder = book(tmp_path / "seed")
    res = await mkbrr_res()
    task = asyncio.create_task(stage.run(res, release(folder)))
    while not pidfile.exists():
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_dead(int(pidfile.read_text()))
    dest = stage.torrent_file(res.settings, folder.name)
    assert not dest.exists() and not (dest.parent / WORK_DIR).exists()


async def test_preset_with_entropy_is_refused(mkbrr_res, tmp_path, argv_file):
    res = await mkbrr_res(mkbrr_preset_file=preset(tmp_path / "p.yaml", entropy=True))
    with pytest.raises(ConfigError, match="sets entropy: true"):
        await stage.run(res, release(book(tmp_path)))
    assert not argv_file.exists()


async def test_entropy_from_a_preset_we_cannot_read_is_caught_after_the_run(
    mkbrr_res, tmp_path, monkeypatch
):
    # No preset file configured: mkbrr finds ./presets.yaml itself (we cannot check it first).
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    preset(cwd / "presets.yaml", entropy=True)
    res = await mkbrr_res(mkbrr_preset_file=None)
    with pytest.raises(TorrentError, match="mkbrr added entropy"):
        await stage.run(res, release(book(tmp_path / "seed")))


async def test_public_result_is_refused(mkbrr_res, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MKBRR_PUBLIC", "1")
    res = await mkbrr_res()
    with pytest.raises(TorrentError, match="public torrent"):
        await stage.run(res, release(book(tmp_path)))


async def test_different_file_list_is_refused(mkbrr_res, tmp_path):
    folder = tree(book(tmp_path), [(".nfo", 10)])  # mkbrr keeps dotfiles; we do not
    res = await mkbrr_res()
    with pytest.raises(TorrentError, match="file list differs"):
        await stage.run(res, release(folder))


async def test_failure_reports_mkbrr_stderr(mkbrr_res, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MKBRR_EXIT", "1")
    res = await mkbrr_res()
    with pytest.raises(TorrentError, match="exited with status 1: Error: simulated") as info:
        await stage.run(res, release(book(tmp_path)))
    assert "SECRET1" not in str(info.value)  # a URL path in stderr is a passkey: masked
    assert "https://t.example/***" in str(info.value)


def assert_dead(pid: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"mkbrr (pid {pid}) is still running")


async def test_preset_tracker_is_kept_when_no_announce_is_configured(mkbrr_res, tmp_path):
    folder = book(tmp_path / "seed")
    res = await mkbrr_res()  # MAMFAST_ANNOUNCE_URL unset: the preset's tracker stays
    first = await stage.run(res, release(folder))
    assert first.warnings == []
    dest = Path(first.output.torrent_path)
    meta = read_torrent(dest)
    assert meta.announce is not None and meta.announce.get_secret_value() == PRESET_URL
    done = release(folder).model_copy(update=first.output.changes())
    again = await stage.run(res, done)  # reuse must not strip it either
    assert again.display["torrent"]["backend"] == "reused"
    assert read_torrent(dest).announce == meta.announce and again.warnings == []
