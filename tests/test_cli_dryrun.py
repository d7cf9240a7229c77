"""`mamfast dry-run` / `mamfast run --dry-run`: the plan, and proof that nothing is written."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from mamfast.engine import keys
from mamfast.models import Release
from mamfast.ops import dryrun
from mamfast.ops.demo import write_demo_library
from mamfast.release.rules import load_release_rules
from tests.support.library import age, audible, book, snapshot
from tests.support.records import plant_record, record_doc

# What the dry run may send to Redis (connecting, reading records): no write command.
READ_ONLY_COMMANDS = {
    "hello",
    "client",
    "client|setinfo",
    "ping",
    "info",
    "hget",
    "config|resetstat",
}
BIG = 700 * 1024 * 1024  # 700 MiB: mkbrr's table gives 512 KiB pieces


async def redis_state(redis) -> dict[str, object]:
    """Every key with its type and content, to prove a dry run wrote none."""
    state: dict[str, object] = {}
    async for key in redis.scan_iter(match="*"):
        kind = (await redis.type(key)).decode()
        if kind == "hash":
            content: object = await redis.hgetall(key)
        elif kind == "set":
            content = await redis.smembers(key)
        elif kind == "zset":
            content = await redis.zrange(key, 0, -1, withscores=True)
        else:
            content = await redis.dump(key)
        state[key.decode()] = (kind, content, await redis.pttl(key))
    return state


def big_book(library: Path) -> Path:
    folder = book(
        library / "Brandon Sanderson" / "The Way of Kings {ASIN.B0DRYBIG01}",
        ["The Way of Kings.m4b"],
        metadata=audible(
            "B0DRYBIG01",
            "The Way of Kings",
            authors=["Brandon Sanderson"],
            release_date="2010-08-31",
        ),
    )
    with (folder / "The Way of Kings.m4b").open("r+b") as f:
        f.truncate(BIG)  # sparse: sizes are all a plan needs
    age(folder)
    return folder


async def test_the_plan_names_sizes_and_pieces_and_writes_nothing(cli, settings, redis):
    write_demo_library(settings.library_dir)
    big_book(settings.library_dir)
    done = record_doc("B0DEMO0001", status="ready", stage="done", title="He Who Fights")
    done["staging_dir"] = str(settings.seed_folder / "He Who Fights vol_01 {ASIN.B0DEMO0001}")
    await plant_record(redis, "B0DEMO0001", done)
    await redis.srem(keys.ACTIVE, "B0DEMO0001")
    stuck = record_doc(
        "B0DEMO0003", status="needs_attention", stage="metadata", last_error="Audnex said no"
    )
    await plant_record(redis, "B0DEMO0003", stuck)
    (settings.data_dir).mkdir(parents=True, exist_ok=True)
    before_files = snapshot(settings.library_dir.parent)
    before_redis = await redis_state(redis)
    await redis.config_resetstat()

    result = await asyncio.to_thread(cli, "dry-run", "--json")
    commands = {name.removeprefix("cmdstat_") for name in await redis.info("commandstats")}
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    by_asin = {r["asin"]: r for r in plan["releases"]}

    hail_mary = by_asin["B0DEMO0002"]
    assert hail_mary["outcome"] == "would-process"
    assert hail_mary["folder"] == "Project Hail Mary (2021) (Andy Weir) {ASIN.B0DEMO0002}"
    assert [f["name"] for f in hail_mary["files"]] == [
        "Project Hail Mary (2021) (Andy Weir) {ASIN.B0DEMO0002}.jpg",
        "Project Hail Mary (2021) (Andy Weir) {ASIN.B0DEMO0002}.m4b",
    ]
    assert hail_mary["piece_length"] == 32 * 1024 and hail_mary["pieces"] == 1
    assert hail_mary["torrent_path"] == str(
        settings.torrent_folder / hail_mary["folder"] / f"{hail_mary['folder']}.torrent"
    )

    big = by_asin["B0DRYBIG01"]
    assert big["outcome"] == "would-process"
    assert big["folder"] == "The Way of Kings (2010) (Brandon Sanderson) {ASIN.B0DRYBIG01}"
    assert big["size"] == BIG
    assert big["piece_length"] == 512 * 1024 and big["pieces"] == BIG // (512 * 1024)

    assert by_asin["B0DEMO0001"]["outcome"] == "done"
    assert by_asin["B0DEMO0001"]["folder"] == "He Who Fights vol_01 {ASIN.B0DEMO0001}"
    assert by_asin["B0DEMO0003"]["outcome"] == "needs-attention"
    assert "Audnex said no" in by_asin["B0DEMO0003"]["reason"]
    assert "mamfast retry B0DEMO0003" in by_asin["B0DEMO0003"]["reason"]
    assert [Path(r["path"]).name for r in plan["discovery"]["rejects"]] == [
        "A Book Without An ASIN"
    ]

    # Nothing written: no file, folder, scan cache or seed/torrent folder; no Redis key.
    assert snapshot(settings.library_dir.parent) == before_files
    assert not settings.seed_folder.exists() and not settings.torrent_folder.exists()
    assert await redis_state(redis) == before_redis
    assert "hget" in commands  # the records were read...
    assert commands <= READ_ONLY_COMMANDS, commands - READ_ONLY_COMMANDS  # ...and nothing else


async def test_run_dry_run_prints_the_plan(cli, settings, redis):
    write_demo_library(settings.library_dir)
    before = snapshot(settings.library_dir.parent)
    result = await asyncio.to_thread(cli, "run", "--dry-run")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "would-process B0DEMO0002 Project Hail Mary" in text
    assert "folder: Project Hail Mary (2021) (Andy Weir) {ASIN.B0DEMO0002}" in text
    assert "in 1 piece(s) of 32 KiB" in text
    assert "dry run, nothing written: 3 to process" in text
    assert "MAMFAST_ANNOUNCE_URL is not set" in text
    assert snapshot(settings.library_dir.parent) == before
    assert await redis.dbsize() == 0


async def test_a_book_staging_would_refuse_says_why(settings, tmp_path):
    gone = Release(asin="B0DRYGONE1", title="Gone", source_dir=str(settings.library_dir / "x"))
    rules = load_release_rules(settings)

    entry = dryrun._planned(settings, gone, rules.naming)
    assert entry.outcome == "refused"
    assert "is gone" in (entry.reason or "") and entry.folder is None
    assert not os.path.exists(settings.seed_folder)


def test_before_the_first_run_no_private_redis_is_started(tmp_path, monkeypatch):
    """Without MAMFAST_REDIS_URL and no private Redis yet there are no records: the dry
    run needs no Redis, so not even its files appear."""
    from typer.testing import CliRunner

    from mamfast.cli.app import app

    library = tmp_path / "library"
    write_demo_library(library)
    monkeypatch.setenv("MAMFAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MAMFAST_LIBRARY_DIR", str(library))
    monkeypatch.setenv("MAMFAST_SETTLE_SECONDS", "0")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    result = CliRunner().invoke(app, ["dry-run", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert {r["outcome"] for r in plan["releases"]} == {"would-process"}
    assert len(plan["releases"]) == 3
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "data").exists()
