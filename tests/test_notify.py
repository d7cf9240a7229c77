"""Notifications: batched per scan, filtered, retried on failure, secrets masked."""

from __future__ import annotations

from pydantic import SecretStr

from mamfast.clients import notify
from mamfast.engine import control
from mamfast.engine.dispatch import submit
from mamfast.models import Release
from tests.support.drain import drain
from tests.support.engine_stages import instrumented_pipeline, plan
from tests.support.receiver import receiver

ASINS = ["B0NOTIFY01", "B0NOTIFY02", "B0NOTIFY03"]


async def submit_batch(res, asins=ASINS) -> None:
    for asin in asins:
        await submit(res.engine, Release(asin=asin, title=f"Book {asin[-2:]}", source_dir="/x"))
    await notify.record_batch(res.engine, asins)


async def test_one_message_per_scan_on_every_transport(make_services, redis):
    async with receiver() as rx:
        urls = [SecretStr(rx.url("hook")), SecretStr(rx.url("apprise", scheme="json"))]
        res = await make_services(instrumented_pipeline(), notify_urls=urls)
        await redis.hset(plan("B0NOTIFY03", "metadata"), "permanent", 1)
        await submit_batch(res)
        await drain(res.settings, res.engine.stages, res.engine.store)

        # The worker's notify cron may already have sent it while draining.
        await notify.flush(res.engine)
        [hook] = rx.at("hook")
        assert hook["title"] == "mamfast: scan finished: 1 needs attention, 2 ready to upload"
        assert (
            hook["body"]
            .splitlines()[0]
            .startswith("- needs attention: Book 03 (B0NOTIFY03): metadata: simulated bad input")
        )
        assert {e["asin"] for e in hook["events"]} == set(ASINS)
        assert "content" in hook  # Discord webhooks read `content`
        [apprise_post] = rx.at("apprise")
        assert apprise_post["title"] == hook["title"]
        assert "B0NOTIFY01" in apprise_post["message"]

        assert await notify.flush(res.engine) == []  # nothing new: nothing sent
        assert len(rx.posts) == 2


async def test_a_scan_is_announced_only_when_all_its_releases_finished(make_services, redis):
    async with receiver() as rx:
        res = await make_services(instrumented_pipeline(), notify_urls=[SecretStr(rx.url("hook"))])
        await submit_batch(res, ASINS[:1])
        await drain(res.settings, res.engine.stages, res.engine.store)
        await submit_batch(res, ASINS[1:])  # a second scan, not finished yet
        await notify.flush(res.engine)
        assert [len(p["events"]) for p in rx.at("hook")] == [1]
        await drain(res.settings, res.engine.stages, res.engine.store)
        await notify.flush(res.engine)
        assert [len(p["events"]) for p in rx.at("hook")] == [1, 2]


async def test_filter_retry_and_loose_events(make_services, redis):
    async with receiver() as rx:
        res = await make_services(
            instrumented_pipeline(),
            notify_urls=[SecretStr(rx.url("hook"))],
            notify_events=["needs_attention", "ready"],
        )
        await redis.hset(plan("B0NOTIFY01", "stage"), "permanent", 1)
        rx.status = 500  # the webhook is down: nothing is lost
        await submit_batch(res, ASINS[:1])
        await drain(res.settings, res.engine.stages, res.engine.store)

        [failed] = await notify.flush(res.engine)  # the events are still there to send
        assert not failed.ok and failed.detail == "HTTP 500"
        rx.status = 200
        [sent] = await notify.flush(res.engine)
        assert sent.ok and await notify.flush(res.engine) == []
        assert {p["events"][0]["status"] for p in rx.at("hook")} == {"needs_attention"}

        await redis.delete(plan("B0NOTIFY01", "stage"))
        assert (await control.retry(res.engine, "B0NOTIFY01")).ok
        await drain(res.settings, res.engine.stages, res.engine.store)
        await notify.flush(res.engine)
        last = rx.at("hook")[-1]
        assert last["title"] == "mamfast: releases updated: 1 ready to upload"


async def test_filter_drops_unwanted_events(make_services, redis):
    async with receiver() as rx:
        res = await make_services(
            instrumented_pipeline(),
            notify_urls=[SecretStr(rx.url("hook"))],
            notify_events=["needs_attention"],
        )
        await submit_batch(res, ASINS[:2])
        await drain(res.settings, res.engine.stages, res.engine.store)
        assert await notify.flush(res.engine) == []
        assert rx.posts == []


def test_urls_are_masked():
    assert notify.shown("discord://1234/SECRETTOKEN") == "discord://***"
    assert notify.shown("https://hooks.example/T0K3N") == "https://***"


def test_notify_test_command_reports_each_url_masked(monkeypatch):
    import asyncio
    import threading

    from typer.testing import CliRunner

    from mamfast.cli.app import app

    ready = threading.Event()
    holder: dict = {}

    def serve() -> None:
        async def main() -> None:
            async with receiver() as rx:
                holder["rx"] = rx
                ready.set()
                while not holder.get("stop"):
                    await asyncio.sleep(0.05)

        asyncio.run(main())

    thread = threading.Thread(target=serve)
    thread.start()
    ready.wait(10)
    rx = holder["rx"]
    try:
        monkeypatch.setenv("MAMFAST_NOTIFY_URLS", f"{rx.url('hook/SECRET')},bogus://nothing/SECRET")
        result = CliRunner().invoke(app, ["notify", "test"])
    finally:
        holder["stop"] = True
        thread.join()
    assert result.exit_code == 1
    assert "http://***: sent" in result.output
    assert "bogus://***: failed (not a URL Apprise understands)" in result.output
    assert "SECRET" not in result.output
    assert rx.at("hook/SECRET")[0]["title"] == "mamfast: test notification"


async def test_a_failing_url_never_makes_the_working_ones_repeat(make_services, redis):
    async with receiver() as good, receiver() as bad:
        bad.status = 500
        urls = [SecretStr(good.url("hook")), SecretStr(bad.url("hook"))]
        res = await make_services(instrumented_pipeline(), notify_urls=urls)
        await submit_batch(res, ASINS[:1])
        await drain(res.settings, res.engine.stages, res.engine.store)
        for _ in range(3):  # the worker's cron would do this every 30 s
            await notify.flush(res.engine)
        assert len(good.at("hook")) == 1  # delivered once, never again
        tries = len(bad.at("hook"))
        assert tries >= 3  # the failing one is retried each time

        bad.status = 200  # fixed: it gets the message it missed, once
        await notify.flush(res.engine)
        assert len(bad.at("hook")) == tries + 1
        assert bad.at("hook")[-1]["title"] == good.at("hook")[0]["title"]
        assert await notify.flush(res.engine) == []
        assert len(good.at("hook")) == 1 and len(bad.at("hook")) == tries + 1


async def test_an_unreadable_event_is_skipped(make_services, redis):
    async with receiver() as rx:
        res = await make_services(instrumented_pipeline(), notify_urls=[SecretStr(rx.url("h"))])
        await redis.rpush("mamfast:events", "not json", '{"asin": "B0NOTIFY01"}')
        await submit_batch(res, ASINS[:1])
        await drain(res.settings, res.engine.stages, res.engine.store)
        await notify.flush(res.engine)
        [post] = rx.at("h")
        assert [e["asin"] for e in post["events"]] == ["B0NOTIFY01"]
        assert await redis.llen("mamfast:events") == 0
