"""`mamfast mamjson` / `mamfast bbcode` as a user runs them (a real process, fake Audnex)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

from tests.support.fake_audnex import FakeAudnex
from tests.support.library import audible, book

AUDIO = Path(__file__).resolve().parent / "fixtures" / "audio"
MAMFAST = str(Path(sys.executable).with_name("mamfast"))


async def cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAMFAST_")}
    proc = await asyncio.create_subprocess_exec(
        MAMFAST,
        *args,
        env={**clean, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def env_for(server: FakeAudnex, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "MAMFAST_AUDNEX_URL": server.url,
        "MAMFAST_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "200",
        **extra,
    }


def libation_folder(tmp_path: Path) -> Path:
    folder = book(
        tmp_path / "lib" / "Brandon Sanderson" / "The Way of Kings",
        {},
        metadata=audible(
            "B003ZWFO7E",
            "The Way of Kings",
            authors=["Brandon Sanderson"],
            series=("The Stormlight Archive", "1"),
        ),
    )
    shutil.copyfile(AUDIO / "book.m4b", folder / "The Way of Kings.m4b")
    return folder


async def test_mamjson_for_a_libation_folder(audnex, tmp_path):
    folder = libation_folder(tmp_path)
    code, out, err = await cli("mamjson", str(folder), env=env_for(audnex, tmp_path))
    assert code == 0, err
    data = json.loads(out)  # stdout is only the JSON
    assert data["title"] == "The Way of Kings" and data["isbn"] == "ASIN:B003ZWFO7E"
    assert data["series"] == [{"name": "The Stormlight Archive", "number": "1"}]
    assert "review before upload" in err and "The files last 5s" in err
    assert audnex.count("/books/B003ZWFO7E") == 1


async def test_mamjson_for_one_audio_file_to_a_file(audnex, tmp_path):
    audio = tmp_path / "Project Hail Mary [B08G9PRS1K].m4b"
    shutil.copyfile(AUDIO / "book.m4b", audio)
    target = tmp_path / "out" / "phm.json"
    code, out, err = await cli(
        "mamjson", str(audio), "-o", str(target), env=env_for(audnex, tmp_path)
    )
    assert code == 0, err
    assert out == "" and f"wrote {target}" in err
    data = json.loads(target.read_text())
    assert data["title"] == "Project Hail Mary" and data["narrators"] == ["Ray Porter"]


async def test_mamjson_with_redis_shares_the_workers_cache(audnex, tmp_path, redis, redis_server):
    # `redis` flushes the database: no cached answer from an earlier test
    folder = libation_folder(tmp_path)
    env = env_for(audnex, tmp_path, MAMFAST_REDIS_URL=redis_server.url)
    for _ in range(2):
        code, _, err = await cli("mamjson", str(folder), env=env)
        assert code == 0, err
    assert audnex.count("/books/B003ZWFO7E") == 1  # the second run read the cache


async def test_bbcode_prints_the_description(audnex, tmp_path):
    code, out, err = await cli(
        "bbcode", str(libation_folder(tmp_path)), env=env_for(audnex, tmp_path)
    )
    assert code == 0, err
    assert out.startswith("[center][size=6][b][color=#3aa6ff]The Way of Kings[/color]")
    assert out.count("\n") == 1


async def test_no_audnex_and_explicit_asin(audnex, tmp_path):
    folder = tmp_path / "Some Folder"
    folder.mkdir()
    shutil.copyfile(AUDIO / "track.mp3", folder / "track.mp3")
    code, out, err = await cli(
        "mamjson", str(folder), "--asin", "b000000001", "--no-audnex", env=env_for(audnex, tmp_path)
    )
    assert code == 0, err
    assert json.loads(out)["isbn"] == "ASIN:B000000001"
    assert "audnex: missing (skipped: --no-audnex)" in err
    assert audnex.requests == []


async def test_no_asin_is_a_clear_error(audnex, tmp_path):
    folder = tmp_path / "Nameless"
    folder.mkdir()
    shutil.copyfile(AUDIO / "track.mp3", folder / "track.mp3")
    code, out, err = await cli("mamjson", str(folder), env=env_for(audnex, tmp_path))
    assert code == 1 and out == ""
    assert "no ASIN found for Nameless" in err and "--asin" in err
