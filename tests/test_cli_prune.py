"""`mamfast state prune`: records whose book left the library go (with --apply); files never."""

from __future__ import annotations

import asyncio
import json
import shutil

from mamfast.engine import keys, locks
from tests.support.library import snapshot
from tests.support.records import plant_record, record_doc

HASH = "ab" * 20


async def plant(redis, settings, asin: str, *, source: bool, **fields) -> None:
    folder = settings.library_dir / "Author" / f"Book {{ASIN.{asin}}}"
    if source:
        folder.mkdir(parents=True)
        (folder / "Book.m4b").write_bytes(b"audio")
    doc = record_doc(asin, source_dir=str(folder), title=f"Book {asin}", **fields)
    await plant_record(redis, asin, doc)


async def test_prune_lists_then_forgets_only_what_left_the_library(cli, settings, redis, tmp_path):
    seeding = settings.seed_folder / "Book {ASIN.B0PRUNE003}"
    seeding.mkdir(parents=True)
    (seeding / "Book.m4b").write_bytes(b"audio")
    await plant(redis, settings, "B0PRUNE001", source=True, status="complete", stage="done")
    await plant(
        redis, settings, "B0PRUNE002", source=False, status="needs_attention", stage="stage"
    )
    await plant(
        redis,
        settings,
        "B0PRUNE003",
        source=False,
        status="complete",
        stage="done",
        staging_dir=str(seeding),
    )
    await plant(
        redis,
        settings,
        "B0PRUNE004",
        source=False,
        status="complete",
        stage="done",
        staging_dir=str(settings.seed_folder / "gone {ASIN.B0PRUNE004}"),
        infohash=HASH,
    )
    await redis.set(keys.infohash_owner(HASH), "B0PRUNE004")
    imported = record_doc("B0PRUNE005", status="complete", stage="done", source_dir=None)
    await plant_record(redis, "B0PRUNE005", imported)
    await plant(redis, settings, "B0PRUNE006", source=False, status="queued", stage="stage")
    files = snapshot(tmp_path)

    listed = await asyncio.to_thread(cli, "state", "prune", "--json")
    assert listed.exit_code == 0, listed.output
    actions = {i["asin"]: i["action"] for i in json.loads(listed.output)["items"]}
    assert actions == {
        "B0PRUNE002": "would prune",
        "B0PRUNE003": "kept",
        "B0PRUNE004": "would prune",
        "B0PRUNE006": "would prune",
    }
    assert await redis.exists(keys.release("B0PRUNE002"))  # a listing changes nothing

    # B0PRUNE006 is being staged right now: it is judged under its lock, so it stays.
    busy = await locks.try_acquire(redis, keys.release_lock("B0PRUNE006"), ttl=30, purpose="x")
    assert busy is not None
    applied = await asyncio.to_thread(cli, "state", "prune", "--apply")
    assert applied.exit_code == 0, applied.output
    text = " ".join(applied.output.split())
    assert "pruned B0PRUNE002" in text and "pruned B0PRUNE004" in text
    assert "kept B0PRUNE003" in text and "mamfast cleanup" in text
    assert "kept B0PRUNE006" in text and "being worked on" in text
    assert "forgot 2 record(s); no file was touched" in text

    remaining = set(await redis.zrange(keys.RELEASES, 0, -1))
    assert remaining == {b"B0PRUNE001", b"B0PRUNE003", b"B0PRUNE005", b"B0PRUNE006"}
    for asin in ("B0PRUNE002", "B0PRUNE004"):
        assert not await redis.exists(keys.release(asin))
        assert not await redis.sismember(keys.ACTIVE, asin)
    assert not await redis.exists(keys.infohash_owner(HASH))
    assert snapshot(tmp_path) == files  # records only: no file or folder touched
    await locks.release(redis, busy)


async def test_an_unmounted_library_prunes_nothing(cli, settings, redis):
    await plant(redis, settings, "B0PRUNE007", source=False, status="needs_attention")
    shutil.rmtree(settings.library_dir)
    result = await asyncio.to_thread(cli, "state", "prune", "--apply")
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "every book would look gone; nothing was pruned" in text
    assert await redis.exists(keys.release("B0PRUNE007"))
