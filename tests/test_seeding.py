"""Seeding duty against a real qbittorrent-nox: releases marked uploaded, their seeding
time and ratio as qBittorrent counts them, and `mamfast status`'s "Seeding duty" table."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import qbittorrentapi

from mamfast.clients.qbit import QbitClient, TorrentView
from mamfast.engine import control
from mamfast.engine.dispatch import submit
from mamfast.engine.store import ReleaseStore
from mamfast.models import Release, Stage, Status
from mamfast.ops.seeding import REQUIRED, WINDOW, duty_of, seeding_duty
from tests.conftest import make_settings
from tests.support.drain import drain
from tests.support.qbittorrent import QbitServer
from tests.support.torrent_files import StagedBook, stage_book
from tests.test_upload import qbit_settings, upload_only

ASIN = "B0SEEDING1"
OTHER = "B0SEEDING2"
THIRD = "B0SEEDING3"


@pytest.fixture
def settings(tmp_path, redis_server):
    return make_settings(tmp_path, redis_server.url, seed_dir=tmp_path)


@pytest.fixture
def book(tmp_path: Path) -> StagedBook:
    return stage_book(tmp_path / "seed", tmp_path / "torrents", "Seeded Book (2024) (An Author)")


async def uploaded_and_seeding(make_services, qbit_server: QbitServer, book: StagedBook):
    """`book` through the real upload stage into qBittorrent, then marked uploaded to MAM."""
    res = await make_services(upload_only(), **qbit_settings(qbit_server))
    await submit(res.engine, book.release(ASIN))
    await drain(res.settings, res.engine.stages, res.engine.store)
    done = await res.engine.store.get(ASIN)
    assert done is not None and done.status is Status.COMPLETE
    marked = await control.mark_uploaded(res.engine, ASIN)
    assert marked.ok, marked.message
    return res


async def seeded_for(
    qbit: QbitClient, admin: qbittorrentapi.Client, infohash: str, seconds: int
) -> TorrentView:
    """Wait until qBittorrent shows `seconds` of seeding. It refreshes a torrent's figures
    only when something about it changes (an idle torrent's seeding time stands still in
    its answers; peers and a tracker change it all the time), so each look changes its
    upload limit (to another one far above what a loopback test sends)."""
    deadline = time.monotonic() + seconds + 15
    limit = 50_000_000
    while time.monotonic() < deadline:
        limit += 1024
        await asyncio.to_thread(admin.torrents_set_upload_limit, limit, torrent_hashes=infohash)
        await asyncio.sleep(0.5)
        view = (await qbit.many([infohash])).get(infohash)
        if view is not None and view.seeding_time >= seconds:
            return view
    raise AssertionError(f"qBittorrent never counted {seconds}s of seeding")


async def test_a_release_marked_uploaded_shows_its_seeding_time_and_ratio(
    make_services, qbit_server, qbit_admin, book
):
    res = await uploaded_and_seeding(make_services, qbit_server, book)
    assert res.qbit is not None
    view = await seeded_for(res.qbit, qbit_admin, book.infohash, 3)

    duties = await seeding_duty(res.engine, res.qbit)
    assert [d.asin for d in duties] == [ASIN]
    duty = duties[0]
    record = await res.engine.store.get(ASIN)
    assert record is not None and record.mam_uploaded_at is not None
    assert duty.uploaded_at == record.mam_uploaded_at
    assert duty.deadline == record.mam_uploaded_at + WINDOW
    assert duty.state is not None and not duty.missing
    assert duty.client_seeding_time is not None
    assert duty.client_seeding_time >= timedelta(seconds=view.seeding_time)
    # Marked uploaded right after the add: nearly all of qBittorrent's time counts, and
    # never more than has passed since the mark.
    assert timedelta(seconds=1) <= duty.seeding_time <= duty.client_seeding_time
    assert duty.seeding_time <= datetime.now(UTC) - record.mam_uploaded_at
    assert duty.ratio is not None and duty.ratio >= 0
    assert not duty.met and duty.remaining == REQUIRED - duty.seeding_time
    assert not duty.missed

    assert await seeding_duty(res.engine, res.qbit, releases=[]) == []


async def test_a_torrent_removed_from_qbittorrent_is_missing_and_unmarked_ones_are_left_out(
    make_services, qbit_server, qbit_admin, book, tmp_path
):
    res = await uploaded_and_seeding(make_services, qbit_server, book)
    assert res.qbit is not None
    never = Release(asin=OTHER, title="Not uploaded", stage=Stage.DONE, status=Status.COMPLETE)
    await ReleaseStore(res.redis).create(never)
    # Uploaded, but imported from the old tool without an infohash: not "missing".
    unknown = never.model_copy(update={"asin": THIRD, "mam_uploaded_at": datetime.now(UTC)})
    await ReleaseStore(res.redis).create(unknown)
    qbit_admin.torrents_delete(delete_files=False, torrent_hashes=book.infohash)
    while await res.qbit.many([book.infohash]):
        await asyncio.sleep(0.05)

    duties = await seeding_duty(res.engine, res.qbit)
    assert [(d.asin, d.missing, d.state, d.ratio) for d in duties] == [
        (ASIN, True, None, None),
        (THIRD, False, None, None),
    ]
    assert duties[0].seeding_time == timedelta(0) and duties[0].remaining == REQUIRED


def view_of(seeding_hours: float, completed: datetime, ratio: float = 0.5) -> TorrentView:
    return TorrentView(
        hash="a" * 40,
        state="stalledUP",
        progress=1.0,
        seeding_time=int(seeding_hours * 3600),
        ratio=ratio,
        added_on=int(completed.timestamp()) - 5,
        completion_on=int(completed.timestamp()),
    )


def test_seeding_before_the_upload_to_mam_is_not_counted():
    """qBittorrent counts from completion; MAM from the upload. Seeded 10 days before the
    upload and 80 h since: 80 h count, the duty is met."""
    uploaded = datetime(2026, 1, 11, tzinfo=UTC)
    record = Release(asin=ASIN, stage=Stage.DONE, status=Status.COMPLETE, infohash="a" * 40)
    record = record.model_copy(update={"mam_uploaded_at": uploaded})
    completed = uploaded - timedelta(days=10)
    now = uploaded + timedelta(hours=80)
    duty = duty_of(record, view_of(240 + 80, completed), now)
    assert duty.seeding_time == timedelta(hours=80) and duty.met
    assert duty.remaining == timedelta(0) and not duty.missed

    # Stopped for 20 h after the upload: qBittorrent's 300 h hold 60 h since the upload.
    duty = duty_of(record, view_of(240 + 60, completed), now)
    assert duty.seeding_time == timedelta(hours=60) and not duty.met
    assert duty.remaining == timedelta(hours=12)

    # Stopped for 5 of the 10 days before the upload: the credit can only be too small.
    duty = duty_of(record, view_of(120 + 80, completed), now)
    assert duty.seeding_time == timedelta(0) and duty.remaining == REQUIRED

    # 29 days after the upload with 12 h seeded: 60 h cannot fit in the day left.
    late = uploaded + timedelta(days=29)
    duty = duty_of(record, view_of(240 + 12, completed), late)
    assert duty.seeding_time == timedelta(hours=12) and duty.missed


def test_status_names_a_release_without_infohash_not_missing(
    cli, monkeypatch, qbit_server, qbit_admin
):
    """A record imported from the old tool may have no infohash: nothing to look up, and
    that is what it says (it was shown as missing from qBittorrent)."""
    cli("state", "import", str(Path(__file__).parent / "fixtures" / "legacy" / "processed_v1.json"))
    assert cli("uploaded", "B09GHD1R2R").exit_code == 0
    monkeypatch.setenv("MAMFAST_QBIT_URL", qbit_server.url)
    monkeypatch.setenv("MAMFAST_QBIT_USERNAME", qbit_server.username)
    monkeypatch.setenv("MAMFAST_QBIT_PASSWORD", qbit_server.password)
    result = cli("status")
    assert result.exit_code == 0, result.output
    row = next(
        line for line in result.output.split("Seeding duty")[1].splitlines() if "B09GHD1R2R" in line
    )
    assert "no infohash recorded" in row and "missing" not in row


def test_status_says_when_no_client_is_configured(cli):
    cli("state", "import", str(Path(__file__).parent / "fixtures" / "legacy" / "processed_v1.json"))
    assert cli("uploaded", "B09GHD1R2R").exit_code == 0
    result = cli("status")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Seeding duty: 1 release(s) marked uploaded, but no qBittorrent is configured" in text
    assert "(MAMFAST_QBIT_URL)" in text


async def test_status_shows_the_seeding_duty_table(
    cli, monkeypatch, make_services, qbit_server, qbit_admin, book
):
    res = await uploaded_and_seeding(make_services, qbit_server, book)
    monkeypatch.setenv("MAMFAST_QBIT_URL", qbit_server.url)
    monkeypatch.setenv("MAMFAST_QBIT_USERNAME", qbit_server.username)
    monkeypatch.setenv("MAMFAST_QBIT_PASSWORD", qbit_server.password)
    assert res.qbit is not None
    await seeded_for(res.qbit, qbit_admin, book.infohash, 3)
    result = await asyncio.to_thread(cli, "status")
    assert result.exit_code == 0, result.output
    table = result.output.split("Seeding duty", 1)[1]
    assert "72 h of seeding within 30 days of upload" in table
    row = next(line for line in table.splitlines() if ASIN in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[4:6] == ["0h 00m", "72h 00m"]  # seconds so far; a part minute still owed
    assert cells[7:9] == ["0.00", "stalledUP"]  # ratio and state, as qBittorrent says
    assert qbit_server.password not in result.output


def test_status_with_qbittorrent_down_still_lists_and_says_why(cli, monkeypatch):
    from mamfast.ops.embedded import free_port

    cli("state", "import", str(Path(__file__).parent / "fixtures" / "legacy" / "processed_v2.json"))
    assert cli("uploaded", "B09GHD1R2R").exit_code == 0  # v2 records its infohash
    monkeypatch.setenv("MAMFAST_QBIT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MAMFAST_QBIT_PASSWORD", "hunter2pass")
    result = cli("status")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "B09GHD1R2R" in text and "1 marked uploaded to MAM" in text
    assert "Seeding duty: 1 release(s) marked uploaded; could not ask qBittorrent" in text
    assert "hunter2pass" not in result.output


async def test_the_dashboard_shows_the_duty_and_asks_qbittorrent_at_most_every_30s(
    make_services, qbit_server, qbit_admin, book
):
    """The web pages show the duty from the real qBittorrent (through a counting proxy):
    one question for any number of pages and event ticks, a removed torrent named
    missing at the next read, and a qBittorrent in trouble in plain words, not a 500."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from mamfast.engine.engine import Engine
    from mamfast.web.app import create_app
    from mamfast.web.context import SEEDING
    from mamfast.web.security import Access
    from tests.support.qbit_proxy import QbitProxy
    from tests.test_web import next_event

    res = await uploaded_and_seeding(make_services, qbit_server, book)
    assert res.qbit is not None
    await seeded_for(res.qbit, qbit_admin, book.infohash, 2)
    asked: list[str] = []
    broken: list[bool] = []

    async def count(request: web.Request) -> None:
        if request.path == "/api/v2/torrents/info":
            asked.append(request.path)

    async def maybe_fail(request: web.Request, _body: bytes) -> web.StreamResponse | None:
        return web.Response(status=500, text="boom") if broken else None

    proxy = QbitProxy(qbit_server.url, before_forward=count, intercept=maybe_fail)
    await proxy.start()
    settings = res.settings.model_copy(update={"qbit_url": proxy.url})
    app = create_app(Engine(settings, res.redis, {}), Access("t" * 32, open_reads=True))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        index = await (await client.get("/?view=all")).text()
        assert f'<tr data-duty="{ASIN}"' in index and "Seeded Book" in index
        assert "72 h of seeding within 30 days" in index and "0.00</td><td>stalledUP" in index
        # One question (qbittorrent-api sends it twice the first time: refused, logs in).
        first = len(asked)
        page = await (await client.get(f"/release/{ASIN}")).text()
        assert 'data-duty="seeded">0h 0' in page and "of 72h" in page
        assert 'data-duty="left">7' in page and 'data-duty="state">stalledUP' in page
        stream = await client.get("/events?view=all")
        await next_event(stream, "release")
        await asyncio.sleep(2)  # four ticks of the stream
        stream.close()
        assert len(asked) == first  # the other page and the ticks asked nothing

        qbit_admin.torrents_delete(delete_files=False, torrent_hashes=book.infohash)
        page = await (await client.get(f"/release/{ASIN}")).text()
        assert "missing from qBittorrent" not in page and len(asked) == first  # kept 30 s
        app[SEEDING].read_every = 0.0  # as if 30 s went by
        page = await (await client.get(f"/release/{ASIN}")).text()
        assert "missing from qBittorrent: it is not seeding" in page and len(asked) == first + 1

        broken.append(True)
        for path in ("/", f"/release/{ASIN}"):
            response = await client.get(path)
            text = await response.text()
            assert response.status == 200, path
            assert "Could not ask qBittorrent" in text and "server error" in text
            assert qbit_server.password not in text
    finally:
        await client.close()
        await proxy.stop()


def test_the_dashboard_row_says_met_missed_and_unknown_in_words():
    from mamfast.web.seeding import duty_row

    uploaded = datetime.now(UTC).replace(microsecond=0) - timedelta(days=29)
    record = Release(asin=ASIN, title="Seeded Book", stage=Stage.DONE, status=Status.COMPLETE)
    record = record.model_copy(update={"mam_uploaded_at": uploaded, "infohash": "a" * 40})
    completed = uploaded - timedelta(hours=1)
    met = duty_row(duty_of(record, view_of(1 + 80, completed, ratio=1.234), datetime.now(UTC)))
    assert met["met"] and not met["missed"] and met["left"] == "0h 00m"
    assert met["ratio"] == "1.23" and met["state"] == "stalledUP" and met["uploaded"] == "29d ago"
    late = duty_row(duty_of(record, view_of(1 + 12, completed), datetime.now(UTC)))
    assert late["missed"] and late["seeded"] == "12h 00m" and late["left"] == "60h 00m"
    gone = duty_row(duty_of(record, None, datetime.now(UTC)))
    assert gone["missing"] and gone["state"].startswith("missing from qBittorrent")
    unknown = record.model_copy(update={"infohash": None})
    row = duty_row(duty_of(unknown, None, datetime.now(UTC)))
    assert row["state"].startswith("no infohash recorded") and row["ratio"] == "-"
