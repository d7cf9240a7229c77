"""`mamfast doctor` catches each misconfiguration it lists, with a fix, and hides secrets."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from mamfast.cli.app import app
from mamfast.ops import doctor
from tests.conftest import make_settings

PASSKEY = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
ANNOUNCE = f"https://t.myanonamouse.net/tracker.php/{PASSKEY}/announce"
FAKE_MKBRR = Path(__file__).parent / "support" / "fake_mkbrr.py"


@pytest.fixture
def good(tmp_path, redis_server):
    (tmp_path / "library" / "Book").mkdir(parents=True)
    (tmp_path / "library" / "Book" / "a.m4b").write_bytes(b"x" * 100)
    return make_settings(tmp_path, redis_server.url, announce_url=SecretStr(ANNOUNCE))


def qbit(server, **extra):
    return {
        "qbit_url": server.url,
        "qbit_username": server.username,
        "qbit_password": SecretStr(server.password),
        **extra,
    }


async def test_a_good_setup_passes_every_check(good, audnex, qbit_server, qbit_admin):
    settings = good.model_copy(update={"audnex_url": audnex.url, **qbit(qbit_server)})
    checks = {c.name: c for c in await doctor.run_checks(settings)}
    failing = {n: c.detail for n, c in checks.items() if not c.ok or c.warning}
    assert failing == {}
    assert "AOF on, noeviction" in checks["redis"].detail
    assert "same filesystem" in checks["hardlinks"].detail
    assert "v4.5" in checks["qBittorrent"].detail
    assert checks["qBittorrent paths"].ok and not checks["qBittorrent paths"].skipped
    assert PASSKEY not in checks["announce URL"].detail
    assert qbit_admin.torrents_info() == []  # the path probe leaves nothing behind
    assert not (settings.seed_folder / doctor.PROBE_NAME).exists()


async def test_redis_without_aof_or_unreachable(good, redis):
    await redis.config_set("appendonly", "no")
    try:
        check = await doctor.check_redis(good)
    finally:
        await redis.config_set("appendonly", "yes")
    assert not check.ok and "AOF is off" in check.detail and "--appendonly yes" in check.fix
    gone = good.model_copy(update={"redis_url": SecretStr("redis://:hunter2@127.0.0.1:9/0")})
    check = await doctor.check_redis(gone)
    assert not check.ok and "cannot reach" in check.detail
    assert "hunter2" not in check.detail


async def test_library_missing_or_unset(good, tmp_path):
    check = await doctor.check_library(good.model_copy(update={"library_dir": tmp_path / "nope"}))
    assert not check.ok and "MAMFAST_LIBRARY_DIR" in check.fix
    check = await doctor.check_library(good.model_copy(update={"library_dir": None}))
    assert not check.ok and "not set" in check.detail


async def test_output_folder_not_writable(good, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    check = await doctor.check_writable(good.model_copy(update={"seed_dir": blocker / "seed"}))
    assert not check.ok and "seed dir" in check.detail and "MAMFAST_SEED_DIR" in check.fix


async def test_library_and_seed_dir_on_different_filesystems(good, other_filesystem):
    check = await doctor.check_same_filesystem(
        good.model_copy(update={"seed_dir": other_filesystem})
    )
    assert not check.ok and "different filesystems" in check.detail
    assert "/data" in check.fix
    assert list(other_filesystem.iterdir()) == []


async def test_mediainfo_command_missing(good):
    check = await doctor.check_mediainfo(good.model_copy(update={"mediainfo_cmd": "/no/mediainfo"}))
    assert not check.ok and "MAMFAST_MEDIAINFO_CMD" in check.fix


async def test_mkbrr_checked_only_when_configured(good):
    assert (await doctor.check_mkbrr(good)).skipped
    missing = good.model_copy(update={"torrent_backend": "mkbrr", "mkbrr_cmd": "/no/mkbrr"})
    check = await doctor.check_mkbrr(missing)
    assert not check.ok and "MAMFAST_MKBRR_CMD" in check.fix
    stand_in = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE_MKBRR))}"
    check = await doctor.check_mkbrr(
        good.model_copy(update={"torrent_backend": "mkbrr", "mkbrr_cmd": stand_in})
    )
    assert check.ok and "v1.0.0" in check.detail


async def test_announce_url_shapes(good):
    assert not (await doctor.check_announce(good.model_copy(update={"announce_url": None}))).ok
    no_key = good.model_copy(
        update={"announce_url": SecretStr("https://t.myanonamouse.net/announce")}
    )
    check = await doctor.check_announce(no_key)
    assert not check.ok and "passkey" in check.detail
    check = await doctor.check_announce(good)
    assert check.ok and PASSKEY not in check.detail and "***" in check.detail


async def test_qbittorrent_wrong_password(good, qbit_server, qbit_admin):
    wrong = good.model_copy(update=qbit(qbit_server, qbit_password=SecretStr("not-the-pw")))
    check = await doctor.check_qbit(wrong)
    assert not check.ok and "MAMFAST_QBIT_USERNAME" in check.fix
    assert "not-the-pw" not in check.detail + check.fix


async def test_qbittorrent_unreachable(good):
    check = await doctor.check_qbit(good.model_copy(update={"qbit_url": "http://127.0.0.1:9"}))
    assert not check.ok


async def test_wrong_path_map_is_caught(good, qbit_server, qbit_admin, tmp_path):
    wrong_map = f"{good.seed_folder}:/nowhere/seed"
    wrong = good.model_copy(update=qbit(qbit_server, qbit_path_map=wrong_map))
    check = await doctor.check_qbit_paths(wrong)
    assert not check.ok
    assert "/nowhere/seed" in check.detail and "MAMFAST_QBIT_PATH_MAP" in check.fix
    assert qbit_admin.torrents_info() == []


async def test_audnex_unreachable_warns_or_fails(good, audnex):
    assert (await doctor.check_audnex(good.model_copy(update={"audnex_url": audnex.url}))).ok
    down = good.model_copy(update={"audnex_url": "http://127.0.0.1:9"})
    check = await doctor.check_audnex(down)
    assert check.ok and check.warning and "Libation" in check.fix
    check = await doctor.check_audnex(down.model_copy(update={"audnex_required": True}))
    assert not check.ok


def test_doctor_command_json_and_exit_code(good, monkeypatch):
    monkeypatch.setenv("MAMFAST_REDIS_URL", good.secret("redis_url") or "")
    monkeypatch.setenv("MAMFAST_LIBRARY_DIR", str(good.library_dir))
    monkeypatch.setenv("MAMFAST_DATA_DIR", str(good.data_dir))
    monkeypatch.setenv("MAMFAST_ANNOUNCE_URL", "https://t.myanonamouse.net/announce")
    monkeypatch.setenv("MAMFAST_AUDNEX_URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1  # the announce URL has no passkey
    checks = {c["name"]: c for c in json.loads(result.output)}
    assert not checks["announce URL"]["ok"]
    assert checks["Audnex"]["warning"]
    human = CliRunner().invoke(app, ["doctor"])
    assert "FAIL announce URL" in human.output and "fix:" in human.output
