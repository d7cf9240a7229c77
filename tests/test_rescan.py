"""An unchanged rescan: finished releases are recognised by ASIN, their readings not built.

Whether a release is finished is asked of Redis on every scan, never taken from the scan
cache: after Redis lost its data, a rescan creates every record again; a release that
needs attention, is still in progress, or lacks its source folder goes through the
ordinary submission.
"""

from __future__ import annotations

from mamfast.engine import keys
from mamfast.models import Release, Status
from mamfast.ops.demo import write_demo_library
from mamfast.ops.enqueue import enqueue
from mamfast.ops.runner import run
from mamfast.stages import default_pipeline
from workers.serve import serve

DEMO_ASINS = {"B0DEMO0001", "B0DEMO0002", "B0DEMO0003"}


async def finished_library(settings, make_services):
    write_demo_library(settings.library_dir)
    first = await run(settings, stages=default_pipeline(settings), serve=serve)
    assert {r.status for r in first.releases} == {Status.READY}
    return await make_services(default_pipeline(settings))


async def test_an_unchanged_rescan_builds_no_reading_of_a_finished_release(
    settings, redis, make_services
):
    res = await finished_library(settings, make_services)
    report = await enqueue(res.engine)
    assert report.discovery.stats.examined == 0
    assert report.discovery.releases == []  # no reading built
    assert {k.asin for k in report.discovery.known} == DEMO_ASINS
    assert {r.asin: r.outcome for r in report.releases} == dict.fromkeys(
        DEMO_ASINS, "already-ready"
    )
    assert all(r.source_dir and r.title and r.job_id is None for r in report.releases)
    # the rejected folder is still reported on every scan
    assert [r.path.name for r in report.discovery.rejects] == ["A Book Without An ASIN"]


async def test_after_redis_loss_an_unchanged_rescan_creates_every_record_again(
    settings, redis, make_services
):
    res = await finished_library(settings, make_services)
    await redis.flushdb()
    report = await enqueue(res.engine)
    assert report.discovery.stats.examined == 0  # the cache still answers for the folders
    assert {r.asin: r.outcome for r in report.releases} == dict.fromkeys(DEMO_ASINS, "new")
    for asin in DEMO_ASINS:
        record = await res.engine.store.get(asin)
        assert record is not None and record.status is Status.QUEUED and record.source_dir


async def set_status(redis, record: Release, status: Status) -> None:
    changed = record.model_copy(update={"status": status})
    fields = {"doc": changed.model_dump_json(), "status": status.value}
    await redis.hset(keys.release(record.asin), mapping=fields)


async def test_releases_not_plainly_finished_are_submitted_as_before(
    settings, redis, make_services
):
    """Needs attention, in progress, or no source folder (imported from the old state file)."""
    res = await finished_library(settings, make_services)
    store = res.engine.store
    attention, queued, imported = sorted(DEMO_ASINS)
    records = {r.asin: r for r in await store.get_many(sorted(DEMO_ASINS))}
    await set_status(redis, records[attention], Status.NEEDS_ATTENTION)
    await set_status(redis, records[queued], Status.QUEUED)
    await redis.delete(keys.release(imported))
    await store.create(records[imported].model_copy(update={"source_dir": None}))

    report = await enqueue(res.engine)
    assert report.discovery.stats.examined == 0
    assert report.discovery.known == []
    assert {c.asin for c in report.discovery.releases} == DEMO_ASINS
    outcomes = {r.asin: r.outcome for r in report.releases}
    assert outcomes[attention] == "already-needs_attention"
    assert outcomes[queued] in ("queued", "already-queued")
    assert outcomes[imported] == "already-ready"
    attached = await store.get(imported)
    assert attached is not None and attached.source_dir == records[imported].source_dir
