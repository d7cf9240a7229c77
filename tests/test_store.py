"""The checkpoint store (mamfast.engine.store) against a real Redis: its commit script refuses
every write that could lose progress or make a second torrent, and bad records stay alone."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from mamfast.engine import keys, locks
from mamfast.engine.store import ReleaseStore
from mamfast.errors import (
    DamagedRecordError,
    FenceRejectedError,
    InfohashMismatchError,
    StaleJobError,
)
from mamfast.models import Release, Stage, Status
from tests.support.records import plant_record, record_doc

ASIN = "B0STORETST"
OTHER = "B0STOREOTH"
HASH_A = "a" * 40
HASH_B = "b" * 40


def release(asin: str = ASIN, **fields) -> Release:
    return Release(**{"asin": asin, "title": "A Book", "author": "An Author", **fields})


async def token(redis, asin: str = ASIN) -> int:
    """Take and drop the release lock: the fencing token a worker would commit with."""
    lease = await locks.try_acquire(
        redis, keys.release_lock(asin), ttl=5, purpose="test", fence_key=keys.fence(asin)
    )
    assert lease is not None
    await locks.release(redis, lease)
    return lease.token


async def stored(redis, asin: str = ASIN) -> dict[bytes, bytes]:
    return await redis.hgetall(keys.release(asin))


async def test_create_is_idempotent(redis):
    store = ReleaseStore(redis)
    first, created = await store.create(release(title="First"))
    assert created and first.title == "First"
    again, created = await store.create(release(title="Second"))
    assert not created
    assert again.title == "First"  # the stored record wins, nothing is overwritten
    assert await store.asins() == [ASIN]
    assert await store.active_asins() == [ASIN]


async def test_concurrent_creates_make_one_record(redis):
    store = ReleaseStore(redis)
    outcomes = await asyncio.gather(*(store.create(release(title=f"t{i}")) for i in range(20)))
    assert sum(created for _, created in outcomes) == 1
    titles = {r.title for r, _ in outcomes}
    assert len(titles) == 1  # every loser got the winner's record back
    assert await redis.zcard(keys.RELEASES) == 1


async def test_create_indexes_terminal_releases_as_inactive_and_claims_the_infohash(redis):
    store = ReleaseStore(redis)
    await store.create(release(status=Status.READY, stage=Stage.DONE, infohash=HASH_A))
    assert await store.active_asins() == []
    assert await store.infohash_owner(HASH_A) == ASIN
    # A second release with the same infohash does not take the first one's claim.
    await store.create(release(OTHER, infohash=HASH_A))
    assert await store.infohash_owner(HASH_A) == ASIN


async def test_commit_with_the_newest_token_writes_the_compared_fields(redis):
    store = ReleaseStore(redis)
    await store.create(release())
    fence = await token(redis)
    moved = release(stage=Stage.METADATA, status=Status.QUEUED, run=2)
    result = await store.commit(moved, token=fence, expected_run=1)
    fields = await stored(redis)
    assert fields[b"run"] == b"2" and fields[b"stage"] == b"metadata"
    assert fields[b"fence"] == str(fence).encode()
    assert (await store.get(ASIN)) == result
    assert result.updated_at >= moved.updated_at


async def test_commit_refuses_an_older_fence_token(redis):
    store = ReleaseStore(redis)
    await store.create(release())
    paused = await token(redis)  # a worker that then paused past its lease
    newer = await token(redis)  # another worker took the release over
    assert newer == paused + 1
    with pytest.raises(FenceRejectedError, match="newer worker"):
        await store.commit(release(stage=Stage.METADATA), token=paused, expected_run=1)
    assert (await stored(redis))[b"stage"] == b"stage"
    await store.commit(release(stage=Stage.METADATA), token=newer, expected_run=1)
    assert (await stored(redis))[b"stage"] == b"metadata"


async def test_commit_refuses_when_run_moved(redis):
    store = ReleaseStore(redis)
    await store.create(release())
    fence = await token(redis)
    await store.commit(release(run=2), token=fence, expected_run=1)  # a reset re-dispatched
    with pytest.raises(StaleJobError, match="stale"):
        await store.commit(release(stage=Stage.METADATA, run=1), token=fence, expected_run=1)
    record = await store.get(ASIN)
    assert record is not None and (record.run, record.stage) == (2, Stage.STAGE)


async def test_commit_of_a_missing_record_is_stale_and_creates_nothing(redis):
    store = ReleaseStore(redis)
    with pytest.raises(StaleJobError, match="missing"):
        await store.commit(release(), token=0, expected_run=1)
    assert await redis.exists(keys.release(ASIN)) == 0
    assert await store.active_asins() == []


async def test_an_infohash_once_recorded_never_changes(redis):
    store = ReleaseStore(redis)
    await store.create(release())
    fence = await token(redis)
    await store.commit(release(infohash=HASH_A), token=fence, expected_run=1)
    assert await store.infohash_owner(HASH_A) == ASIN

    with pytest.raises(InfohashMismatchError) as info:
        await store.commit(release(infohash=HASH_B), token=fence, expected_run=1)
    assert HASH_A in str(info.value) and HASH_B in str(info.value)
    assert "--forget-torrent" in info.value.hint
    # Clearing it is a change too.
    with pytest.raises(InfohashMismatchError):
        await store.commit(release(infohash=None), token=fence, expected_run=1)
    assert (await stored(redis))[b"infohash"] == HASH_A.encode()
    assert await store.infohash_owner(HASH_B) is None


async def test_forgetting_the_infohash_allows_a_new_one_and_frees_the_old(redis):
    store = ReleaseStore(redis)
    await store.create(release())
    fence = await token(redis)
    await store.commit(release(infohash=HASH_A), token=fence, expected_run=1)
    await store.commit(
        release(infohash=HASH_B), token=fence, expected_run=1, forget_infohash=HASH_A
    )
    assert (await stored(redis))[b"infohash"] == HASH_B.encode()
    assert await store.infohash_owner(HASH_A) is None
    assert await store.infohash_owner(HASH_B) == ASIN


async def test_an_infohash_owned_by_another_release_is_refused(redis):
    store = ReleaseStore(redis)
    await store.create(release(OTHER))
    await store.create(release())
    await store.commit(
        release(OTHER, infohash=HASH_A), token=await token(redis, OTHER), expected_run=1
    )

    fence = await token(redis)
    with pytest.raises(InfohashMismatchError, match=f"already belongs to release {OTHER}"):
        await store.commit(
            release(infohash=HASH_A, stage=Stage.UPLOAD), token=fence, expected_run=1
        )
    fields = await stored(redis)
    assert (fields[b"infohash"], fields[b"stage"]) == (b"", b"stage")  # nothing written
    assert await store.infohash_owner(HASH_A) == OTHER


async def test_a_terminal_transition_writes_one_event_and_leaves_the_active_set(redis):
    store = ReleaseStore(redis)
    await store.create(release())
    fence = await token(redis)
    done = release(stage=Stage.DONE, status=Status.READY, json_path="/seed/Book/Book.json")
    await store.commit(done, token=fence, expected_run=1)
    await store.commit(done, token=fence, expected_run=1)  # the same status again: no event
    events = [json.loads(e) for e in await redis.lrange(keys.EVENTS, 0, -1)]
    assert [(e["asin"], e["status"], e["folder"]) for e in events] == [
        (ASIN, "ready", "/seed/Book")
    ]
    assert await store.active_asins() == []
    await store.commit(release(), token=fence, expected_run=1)  # back to work (a retry)
    assert await store.active_asins() == [ASIN]


async def test_read_many_reports_damaged_records_and_returns_the_rest(redis):
    store = ReleaseStore(redis)
    await store.create(release())
    await plant_record(redis, "B0NOTJSON1", {})
    await redis.hset(keys.release("B0NOTJSON1"), "doc", "{not json")
    await plant_record(redis, "B0WRONGASN", record_doc("B0SOMEOTHR"))
    await plant_record(redis, "../my book", record_doc("../my book"))
    await redis.zadd(keys.RELEASES, {"B0GONEAWAY": 9})  # indexed, record gone: just absent

    records, damaged = await store.read_many(await store.asins())
    assert [r.asin for r in records] == [ASIN]
    problems = {d.asin: d for d in damaged}
    assert set(problems) == {"B0NOTJSON1", "B0WRONGASN", "../my book"}
    assert "cannot be read" in problems["B0NOTJSON1"].problem
    assert "says it is B0SOMEOTHR" in problems["B0WRONGASN"].problem
    assert "asin" in problems["../my book"].problem
    assert all("mamfast state forget" in d.hint for d in damaged)
    assert "'../my book'" in problems["../my book"].hint  # quoted for the shell


async def test_a_release_key_of_the_wrong_type_is_damaged_not_fatal(redis):
    store = ReleaseStore(redis)
    await store.create(release())
    await redis.set(keys.release(OTHER), "a string where a hash belongs")
    await redis.zadd(keys.RELEASES, {OTHER: 9})

    records, damaged = await store.read_many(await store.asins())
    assert [r.asin for r in records] == [ASIN]
    assert [d.asin for d in damaged] == [OTHER]
    assert "mamfast state forget" in damaged[0].hint
    with pytest.raises(DamagedRecordError):
        await store.get(OTHER)
    await store.delete(OTHER)  # what `state forget` does
    assert await store.read_many(await store.asins()) == ([await store.get(ASIN)], [])


async def test_get_raises_for_a_damaged_record_and_get_many_warns_once(redis, caplog):
    store = ReleaseStore(redis)
    await store.create(release())
    await plant_record(redis, OTHER, record_doc(OTHER, run="many"))
    with pytest.raises(DamagedRecordError, match="run"):
        await store.get(OTHER)
    assert await store.get("B0NOSUCHRL") is None

    with caplog.at_level(logging.WARNING, logger="mamfast.engine.store"):
        assert [r.asin for r in await store.all()] == [ASIN]
        assert [r.asin for r in await store.all()] == [ASIN]
    assert caplog.text.count("skipping a damaged release record") == 1


async def test_delete_removes_the_record_from_every_index(redis):
    store = ReleaseStore(redis)
    await store.create(release())
    await store.delete(ASIN)
    assert await store.get(ASIN) is None
    assert await store.asins() == [] and await store.active_asins() == []


async def test_status_names_a_wrong_type_key_and_state_forget_drops_it(cli, redis):
    await ReleaseStore(redis).create(release())
    await redis.set(keys.release(OTHER), "a string where a hash belongs")
    await redis.zadd(keys.RELEASES, {OTHER: 9})

    result = await asyncio.to_thread(cli, "status")
    assert result.exit_code == 0, result.output
    assert ASIN in result.output and OTHER in result.output
    assert "cannot be read" in " ".join(result.output.split())

    result = await asyncio.to_thread(cli, "state", "forget", OTHER)
    assert result.exit_code == 0, result.output
    assert await redis.exists(keys.release(OTHER)) == 0
    assert await ReleaseStore(redis).asins() == [ASIN]
