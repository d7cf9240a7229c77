"""Scheduled scans: catch-up after downtime, interval, library changes, the worker cron."""

from __future__ import annotations

import asyncio
import time

from mamfast.engine import keys
from mamfast.ops import scheduler
from tests.support.engine_stages import instrumented_pipeline
from tests.support.library import age, audible, book
from tests.support.processes import wait_until
from workers import jobs


def add_book(library, asin: str, *, settled: bool = True):
    folder = book(
        library / "Author" / f"Title {asin} {{ASIN.{asin}}}",
        ["Title.m4b"],
        metadata=audible(asin, f"Title {asin}", authors=["Author"]),
    )
    if settled:
        age(folder)
    return folder


async def test_a_scan_missed_while_down_runs_at_once_then_waits(make_services, settings, redis):
    res = await make_services(instrumented_pipeline(), scan_interval_minutes=15)
    add_book(settings.library_dir, "B0SCHED001")
    await redis.set(keys.LAST_SCAN, time.time() - 3600)  # everything was down for an hour

    report = await scheduler.scan_if_due(res.engine)
    assert report is not None and report.new == 1
    assert time.time() - await scheduler.last_scan(res.engine) < 5
    add_book(settings.library_dir, "B0SCHED002")
    assert await scheduler.scan_if_due(res.engine) is None  # next one is due in 15 minutes
    assert await res.engine.store.get("B0SCHED002") is None


async def test_a_first_start_scans_at_once(make_services, settings):
    res = await make_services(instrumented_pipeline())
    add_book(settings.library_dir, "B0SCHED003")
    assert await scheduler.is_due(res.engine)  # never scanned
    report = await scheduler.scan_if_due(res.engine)
    assert report is not None and [r.asin for r in report.releases] == ["B0SCHED003"]


async def test_a_new_book_in_the_library_triggers_a_scan(make_services, settings, redis):
    res = await make_services(instrumented_pipeline(), settle_seconds=0.5, scan_interval_minutes=60)
    await redis.set(keys.LAST_SCAN, time.time())  # not due by the clock
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler.run(res.engine, stop, tick=0.1))
    try:
        await asyncio.sleep(0.5)  # let the watcher start
        add_book(settings.library_dir, "B0WATCHED1", settled=False)  # Libation just wrote it

        async def enqueued() -> bool:
            return await res.engine.store.get("B0WATCHED1") is not None

        waited = await wait_until(enqueued, timeout=20, what="a scan after the library changed")
        assert waited >= 0.5  # not before the settle delay
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)


async def test_worker_cron_scans_when_due_only(make_services, settings, redis):
    res = await make_services(instrumented_pipeline())
    add_book(settings.library_dir, "B0CRONSCAN")
    assert await jobs.scheduled_scan({"services": res}) == "new=1"
    assert await jobs.scheduled_scan({"services": res}) == "not due"


async def test_a_library_that_is_not_mounted_yet_is_logged_and_the_scheduler_goes_on(
    make_services, settings, tmp_path, caplog
):
    res = await make_services(instrumented_pipeline(), library_dir=tmp_path / "not-mounted")
    assert await scheduler.scan(res.engine, "schedule") is None
    assert "MAMFAST_LIBRARY_DIR" in caplog.text and "does not exist" in caplog.text
    (tmp_path / "not-mounted").mkdir()  # the volume appears: the next scan works
    add_book(tmp_path / "not-mounted", "B0MOUNTED1")
    report = await scheduler.scan(res.engine, "schedule")
    assert report is not None and report.new == 1
