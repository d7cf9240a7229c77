"""The upload stage against a real qbittorrent-nox on loopback (no mocks).

Every assertion reads qBittorrent itself: how many torrents it holds, their
state and progress. A loopback proxy in front of it counts adds and fakes a lost
answer; restarts are real SIGTERM restarts of the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import qbittorrentapi
from aiohttp import web
from pydantic import SecretStr

from mamfast.clients.qbit import SEEDING_STATES, QbitClient, SeedVerdict, SeedWatch, TorrentView
from mamfast.engine.dispatch import submit
from mamfast.engine.spec import Pipeline, StageSpec
from mamfast.errors import ConfigError, InfohashMismatchError, UploadError
from mamfast.models import Release, Stage, StageOutput, StageResult, Status
from mamfast.stages import upload
from mamfast.stages.services import Services
from tests.conftest import make_settings
from tests.support.drain import drain
from tests.support.qbit_proxy import CONFLICT_5X, FAILS_4X, ZERO_COUNT_5X, QbitProxy
from tests.support.qbittorrent import QbitServer
from tests.support.torrent_files import StagedBook, make_torrent, stage_book, write_files

ASIN = "B0UPLOAD01"
SEED_TIMEOUT = 20.0


def qbit_settings(server: QbitServer, url: str | None = None, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "qbit_url": url or server.url,
        "qbit_username": server.username,
        "qbit_password": SecretStr(server.password),
        "qbit_seed_timeout": SEED_TIMEOUT,
    }
    values.update(extra)
    return values


def upload_only() -> Pipeline:
    return {Stage.UPLOAD: StageSpec(Stage.UPLOAD, upload.run)}


async def _torrent_stage(res: Services, release: Release) -> StageResult:
    """Stands in for the torrent stage (written elsewhere): hash the staged folder."""
    assert release.staging_dir
    folder = Path(release.staging_dir)
    out = res.settings.torrent_folder / folder.name / f"{folder.name}.torrent"
    infohash = await asyncio.to_thread(make_torrent, folder, out)
    return StageResult(output=StageOutput(torrent_path=str(out), infohash=infohash))


def torrent_and_upload() -> Pipeline:
    return {
        Stage.TORRENT: StageSpec(Stage.TORRENT, _torrent_stage),
        Stage.UPLOAD: StageSpec(Stage.UPLOAD, upload.run),
    }


@pytest.fixture
def settings(tmp_path, redis_server):
    """Staged folders in these tests live anywhere under tmp_path: make that the seed folder."""
    return make_settings(tmp_path, redis_server.url, seed_dir=tmp_path)


@pytest.fixture
def book(tmp_path: Path) -> StagedBook:
    return stage_book(tmp_path / "seed", tmp_path / "torrents", "Book One (2024) (An Author)")


@pytest.fixture
async def proxy(qbit_server: QbitServer) -> AsyncIterator[QbitProxy]:
    proxy = QbitProxy(upstream=qbit_server.url)
    await proxy.start()
    yield proxy
    await proxy.stop()


async def run_workers(res: Services) -> None:
    await drain(res.settings, res.engine.stages, res.engine.store)


def listed(admin: qbittorrentapi.Client, infohash: str) -> list[Any]:
    return list(admin.torrents_info(torrent_hashes=infohash))


def assert_seeding_once(admin: qbittorrentapi.Client, book: StagedBook, *, paused: bool = False):
    everything = admin.torrents_info()
    assert [t.hash for t in everything] == [book.infohash]  # one torrent, ours
    torrent = everything[0]
    assert torrent.progress == 1
    if paused:
        assert torrent.state in ("pausedUP", "stoppedUP")
    else:
        assert torrent.state in SEEDING_STATES
    assert Path(torrent.content_path) == book.folder
    return torrent


# --------------------------------------------------------------------------- no client


async def test_without_a_client_the_release_ends_ready(make_services, book):
    res = await make_services(upload_only())
    assert res.qbit is None
    result = await upload.run(res, book.release(ASIN))
    assert result.final_status is Status.READY
    assert result.display["qbit"]["added"] is False


# --------------------------------------------------------------------------- adds


async def test_first_add_seeds_and_a_second_is_a_no_op(
    make_services, qbit_server, qbit_admin, proxy, book, caplog
):
    caplog.set_level(logging.DEBUG)
    res = await make_services(upload_only(), **qbit_settings(qbit_server, proxy.url))
    first = await upload.run(res, book.release(ASIN))
    assert first.final_status is Status.COMPLETE
    record = first.display["qbit"]
    assert record["added"] is True and record["answer"] == "Ok."
    assert record["save_path"] == str(book.folder.parent)
    torrent = assert_seeding_once(qbit_admin, book)
    assert torrent.category == "mamfast" and torrent.tags == "mamfast"
    assert torrent.save_path.rstrip("/") == str(book.folder.parent)

    second = await upload.run(res, book.release(ASIN))
    assert second.final_status is Status.COMPLETE
    assert second.display["qbit"]["added"] is False
    assert proxy.adds == 1  # the second run looked the hash up and did not add
    assert_seeding_once(qbit_admin, book)
    # Neither the announce URL (it holds the passkey) nor the password is ever logged.
    assert "added in qBittorrent" in caplog.text
    assert "/announce" not in caplog.text and qbit_server.password not in caplog.text
    assert "/announce" not in repr(first) + repr(second)


@pytest.mark.parametrize(
    ("skip_checking", "paused"),
    [(True, False), (False, False), (True, True), (False, True)],
    ids=["skip-check", "full-check", "skip-check-paused", "full-check-paused"],
)
async def test_release_flows_from_torrent_to_complete(
    make_services, qbit_server, qbit_admin, tmp_path, skip_checking, paused
):
    overrides = qbit_settings(qbit_server, qbit_skip_checking=skip_checking, qbit_paused=paused)
    res = await make_services(torrent_and_upload(), **overrides)
    folder = tmp_path / "seed" / "Flow Book (2023) (Someone)"
    write_files(folder, (300_000, 120_000, 5_000))
    release = Release(asin=ASIN, title="Flow Book", staging_dir=str(folder), stage=Stage.TORRENT)
    await submit(res.engine, release)
    await run_workers(res)

    final = await res.engine.store.get(ASIN)
    assert final is not None
    assert (final.stage, final.status) == (Stage.DONE, Status.COMPLETE), final.last_error
    assert final.checkpoints.uploaded_at is not None
    record = final.details["qbit"]
    assert record["skip_checking"] is skip_checking and record["paused"] is paused
    assert record["state"] in (("pausedUP", "stoppedUP") if paused else SEEDING_STATES)
    torrent = qbit_admin.torrents_info()[0]
    assert torrent.hash == final.infohash
    assert_seeding_once(
        qbit_admin,
        StagedBook(folder, Path(final.torrent_path or ""), final.infohash or ""),
        paused=paused,
    )
    assert not final.warnings


async def test_eight_concurrent_jobs_add_once(make_services, qbit_server, qbit_admin, proxy, book):
    # Eight workers, each with its own client, run the stage for one release at once.
    workers = [
        await make_services(upload_only(), **qbit_settings(qbit_server, proxy.url))
        for _ in range(8)
    ]
    results = await asyncio.gather(*(upload.run(res, book.release(ASIN)) for res in workers))
    assert all(r.final_status is Status.COMPLETE for r in results)
    assert sum(r.display["qbit"]["added"] for r in results) == 1
    assert proxy.adds == 1
    assert_seeding_once(qbit_admin, book)


@pytest.mark.parametrize(
    ("answer", "recorded"),
    [
        (FAILS_4X, "Fails."),
        (CONFLICT_5X, "409 Conflict: Torrent is already present"),
        (ZERO_COUNT_5X, "success_count=0 pending_count=0 failure_count=1"),
    ],
    ids=["fails-4.5", "409-5.2", "json-zero-5.2"],
)
async def test_lost_add_answer_still_succeeds_without_a_second_add(
    make_services, qbit_server, qbit_admin, proxy, book, answer, recorded
):
    proxy.add_answer = answer  # qBittorrent adds it, the client hears "nothing added"
    res = await make_services(upload_only(), **qbit_settings(qbit_server, proxy.url))
    result = await upload.run(res, book.release(ASIN))
    assert result.final_status is Status.COMPLETE
    record = result.display["qbit"]
    assert record["answer"] == recorded and record["added"] is False
    assert proxy.adds == 1 and proxy.answers == ["Ok."]
    assert_seeding_once(qbit_admin, book)


async def test_refused_add_is_a_failure_with_the_clients_answer(
    make_services, qbit_server, qbit_admin, proxy, book
):
    # The proxy swallows the add (nothing reaches qBittorrent) and says `Fails.`.
    async def swallow(request: Any) -> None:
        if request.path.endswith("/torrents/add"):
            raise web.HTTPOk(text="Fails.")

    proxy.before_forward = swallow
    res = await make_services(upload_only(), **qbit_settings(qbit_server, proxy.url))
    with pytest.raises(UploadError) as info:
        await upload.run(res, book.release(ASIN))
    assert "'Fails.'" in str(info.value) and book.infohash in str(info.value)
    assert qbit_admin.torrents_info() == []


# --------------------------------------------------------------------------- restarts


async def test_qbittorrent_restarted_between_add_and_answer(
    make_services, qbit_server, qbit_admin, proxy, book, redis
):
    restarts: list[int] = []

    def restart_once() -> None:  # SIGTERM + start, before the client hears back
        if not restarts:
            restarts.append(1)
            qbit_server.restart()

    proxy.after_add = restart_once
    res = await make_services(upload_only(), **qbit_settings(qbit_server, proxy.url))
    pid = qbit_server.pid
    await submit(res.engine, book.release(ASIN))
    await run_workers(res)
    final = await res.engine.store.get(ASIN)
    assert final is not None and final.status is Status.COMPLETE, final.last_error
    assert qbit_server.pid not in (None, pid)
    # qBittorrent 4.5 may drop a torrent added a moment before SIGTERM (its resume data
    # was not saved yet): then the next attempt adds it again. Never two torrents.
    if proxy.adds == 2:
        assert final.attempts == {"upload": 1} and proxy.answers == ["Ok.", "Ok."]
    else:
        assert proxy.adds == 1 and final.attempts == {}  # logged in again by itself
    assert_seeding_once(qbit_admin, book)


async def test_qbittorrent_restarted_while_the_stage_waits_for_seeding(
    make_services, qbit_server, qbit_admin, proxy, book, redis
):
    # After the add, the second lookup finds qBittorrent stopping; it is back 1 s later.
    infos_after_add = 0
    restarter: list[threading.Timer] = []

    async def stop_once(request: Any) -> None:
        nonlocal infos_after_add
        if proxy.adds and request.path.endswith("/torrents/info"):
            infos_after_add += 1
            if infos_after_add == 2:
                await asyncio.to_thread(qbit_server.stop)
                restarter.append(threading.Timer(1.0, qbit_server.start))
                restarter[0].start()

    proxy.before_forward = stop_once
    res = await make_services(
        upload_only(), **qbit_settings(qbit_server, proxy.url), max_attempts=20
    )
    try:
        await submit(res.engine, book.release(ASIN))
        await run_workers(res)
    finally:
        for timer in restarter:
            timer.join()
    final = await res.engine.store.get(ASIN)
    assert final is not None and final.status is Status.COMPLETE, final.last_error
    assert restarter and proxy.bad_gateway > 0  # it really saw qBittorrent gone
    assert final.attempts == {}  # the wait rode it out: no attempt spent
    assert proxy.adds == 1
    assert_seeding_once(qbit_admin, book)


async def test_qbittorrent_down_then_back_is_retried(
    make_services, qbit_server, qbit_admin, book, redis
):
    res = await make_services(upload_only(), **qbit_settings(qbit_server), max_attempts=20)
    qbit_server.stop()
    restarted = threading.Timer(1.5, qbit_server.start)
    restarted.start()
    try:
        await submit(res.engine, book.release(ASIN))
        await run_workers(res)
    finally:
        restarted.join()
    final = await res.engine.store.get(ASIN)
    assert final is not None and final.status is Status.COMPLETE, final.last_error
    assert final.attempts.get("upload", 0) >= 1  # connection refused cost an attempt each
    assert_seeding_once(qbit_admin, book)


# --------------------------------------------------------------------------- path mapping


@pytest.mark.parametrize("skip_checking", [True, False], ids=["skip-check", "full-check"])
async def test_wrong_path_map_is_explained_then_fixed(
    make_services, qbit_server, qbit_admin, book, skip_checking
):
    seed = book.folder.parent
    wrong = f"{seed}:/srv/not-there/seed"
    res = await make_services(
        upload_only(),
        **qbit_settings(qbit_server, qbit_path_map=wrong, qbit_skip_checking=skip_checking),
    )
    with pytest.raises(UploadError) as info:
        await upload.run(res, book.release(ASIN))
    message = str(info.value)
    expected_state = "missingFiles" if skip_checking else "stalledDL"
    assert "/srv/not-there/seed" in message and expected_state in message
    assert str(book.folder) in message
    assert "MAMFAST_QBIT_PATH_MAP" in info.value.hint
    # Nothing was removed: the torrent stays for the user to look at.
    [left] = listed(qbit_admin, book.infohash)
    assert left.save_path.rstrip("/") == "/srv/not-there/seed"

    # The user fixes the map and retries: the same torrent is pointed at the right path.
    fixed = await make_services(
        upload_only(), **qbit_settings(qbit_server, qbit_skip_checking=skip_checking)
    )
    result = await upload.run(fixed, book.release(ASIN))
    record = result.display["qbit"]
    assert result.final_status is Status.COMPLETE
    assert record["added"] is False and record["moved_from"].rstrip("/") == "/srv/not-there/seed"
    assert_seeding_once(qbit_admin, book)


async def test_path_map_translates_to_the_clients_view(
    make_services, qbit_server, qbit_admin, tmp_path
):
    # qBittorrent sees the data under real/, we see it under ours/ (a symlink to it).
    real = tmp_path / "real"
    ours = tmp_path / "ours"
    real.mkdir()
    ours.symlink_to(real, target_is_directory=True)
    book = stage_book(ours / "seed", tmp_path / "torrents", "Mapped Book")
    res = await make_services(
        upload_only(), **qbit_settings(qbit_server, qbit_path_map=f"{ours}:{real}")
    )
    result = await upload.run(res, book.release(ASIN))
    record = result.display["qbit"]
    assert record["save_path"] == str(real / "seed")
    assert record["our_save_path"] == str(ours / "seed")
    [torrent] = listed(qbit_admin, book.infohash)
    assert torrent.state in SEEDING_STATES and torrent.progress == 1
    assert torrent.content_path == str(real / "seed" / "Mapped Book")


async def test_engine_records_needs_attention_for_a_wrong_map(
    make_services, qbit_server, qbit_admin, book
):
    res = await make_services(
        upload_only(), **qbit_settings(qbit_server, qbit_path_map=f"{book.folder.parent}:/nope")
    )
    await submit(res.engine, book.release(ASIN))
    await run_workers(res)
    final = await res.engine.store.get(ASIN)
    assert final is not None and final.status is Status.NEEDS_ATTENTION
    assert final.error_type == "UploadError" and final.attempts == {"upload": 1}
    assert "What to do:" in (final.last_error or "")
    assert "MAMFAST_QBIT_PATH_MAP" in (final.last_error or "")
    assert len(listed(qbit_admin, book.infohash)) == 1


# --------------------------------------------------------------------------- login


async def test_wrong_password_needs_attention_and_is_never_shown(
    make_services, qbit_server, qbit_admin, book, caplog
):
    secret = "wrong-Pa55word-xyz"
    res = await make_services(
        upload_only(), **qbit_settings(qbit_server, qbit_password=SecretStr(secret))
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as info:
        await upload.run(res, book.release(ASIN))
    assert "MAMFAST_QBIT_USERNAME/PASSWORD" in str(info.value)
    assert secret not in str(info.value)

    await submit(res.engine, book.release(ASIN))
    await run_workers(res)
    final = await res.engine.store.get(ASIN)
    assert final is not None and final.status is Status.NEEDS_ATTENTION
    assert final.error_type == "ConfigError" and final.attempts == {"upload": 1}
    assert "MAMFAST_QBIT_USERNAME/PASSWORD" in (final.last_error or "")
    assert secret not in (final.last_error or "")
    assert secret not in caplog.text
    assert qbit_admin.torrents_info() == []


# --------------------------------------------------------------------------- torrent file


async def test_torrent_not_matching_the_recorded_infohash_is_refused(make_services, book):
    res = await make_services(upload_only())
    release = book.release(ASIN).model_copy(update={"infohash": "0" * 40})
    with pytest.raises(InfohashMismatchError):
        upload.read_torrent(release)
    assert res.qbit is None


def test_the_recorded_torrent_is_read_with_its_exact_infohash(book):
    torrent = upload.read_torrent(book.release(ASIN))
    assert torrent.infohash == book.infohash  # SHA-1 of the raw info bytes, as qBittorrent has it
    assert torrent.name == book.folder.name and torrent.multi_file


# --------------------------------------------------------------------------- state names


def view(state: str, progress: float) -> TorrentView:
    return TorrentView(hash="ab" * 20, state=state, progress=progress)


@pytest.mark.parametrize(
    ("state", "progress", "verdict"),
    [
        ("stalledUP", 1.0, SeedVerdict.SEEDING),
        ("uploading", 1.0, SeedVerdict.SEEDING),
        ("queuedUP", 1.0, SeedVerdict.SEEDING),
        ("forcedUP", 1.0, SeedVerdict.SEEDING),
        ("pausedUP", 1.0, SeedVerdict.PAUSED_COMPLETE),  # 4.x
        ("stoppedUP", 1.0, SeedVerdict.PAUSED_COMPLETE),  # 5.x
        ("missingFiles", 0.0, SeedVerdict.MISSING_FILES),
        ("error", 1.0, SeedVerdict.MISSING_FILES),
        ("checkingResumeData", 1.0, None),  # skip-checking shows 100% before it is sure
        ("checkingUP", 0.4, None),
        ("moving", 0.0, None),
    ],
)
def test_seed_verdict_for_each_state(state, progress, verdict):
    assert SeedWatch(started=0.0, settle=3.0).judge(view(state, progress), now=0.0) is verdict


@pytest.mark.parametrize("state", ["stalledDL", "downloading", "pausedDL", "stoppedDL"])
def test_incomplete_only_once_it_lasts(state):
    watch = SeedWatch(started=0.0, settle=3.0)
    assert watch.judge(view(state, 0.2), now=0.0) is None
    assert watch.judge(view("checkingDL", 0.2), now=1.0) is None  # a check resets it
    assert watch.judge(view(state, 0.2), now=2.0) is None
    assert watch.judge(view(state, 0.2), now=5.0) is SeedVerdict.INCOMPLETE


@pytest.mark.parametrize(
    ("state", "progress", "lacks"),
    [
        ("missingFiles", 0.0, True),
        ("error", 1.0, True),
        ("stalledDL", 0.2, True),
        ("pausedDL", 0.2, True),
        ("stoppedDL", 0.0, True),
        ("stalledUP", 1.0, False),
        ("stoppedUP", 1.0, False),
        ("checkingUP", 0.4, False),  # still looking: not conclusive
        ("downloading", 1.0, False),
    ],
)
def test_which_states_mean_the_client_lacks_the_data(state, progress, lacks):
    """The upload stage repairs the save path of such a torrent; it reads no state names."""
    assert view(state, progress).lacks_data is lacks


def test_a_vanished_torrent_gets_the_settle_time_to_come_back():
    watch = SeedWatch(started=0.0, settle=3.0)
    assert watch.judge(None, now=0.0) is None  # a restarting qBittorrent may still load it
    assert watch.judge(view("checkingResumeData", 1.0), now=1.0) is None
    assert watch.judge(None, now=2.0) is None
    assert watch.judge(None, now=5.0) is SeedVerdict.GONE


# --------------------------------------------------------------------------- the client's session


async def test_close_ends_the_login_session_once(qbit_server, proxy):
    paths: list[str] = []

    async def note(request: web.Request) -> None:
        paths.append(request.path)

    proxy.before_forward = note
    client = QbitClient(proxy.url, qbit_server.username, qbit_server.password)
    await client.close()
    assert paths == []  # never used: nothing to end
    assert await client.get("ab" * 20) is None
    await client.close()
    assert paths[-1] == "/api/v2/auth/logout"
    count = len(paths)
    await client.close()
    assert len(paths) == count
    assert await client.get("ab" * 20) is None  # still usable: it logs in again
    await client.close()


async def test_close_with_qbittorrent_gone_is_quiet(qbit_server, proxy):
    client = QbitClient(proxy.url, qbit_server.username, qbit_server.password)
    await client.login()
    await proxy.stop()
    await client.close()  # nothing to end, nothing raised


async def test_close_does_not_wait_for_a_hung_qbittorrent(qbit_server, proxy):
    """A worker stopping (SIGTERM, `docker stop`) must not sit in the log-out until the
    read timeout (30 s) when qBittorrent accepts connections but never answers."""
    client = QbitClient(proxy.url, qbit_server.username, qbit_server.password)
    await client.login()
    release = asyncio.Event()

    async def hang(request: web.Request) -> None:
        await release.wait()

    proxy.before_forward = hang
    try:
        await asyncio.wait_for(client.close(), timeout=15)
    finally:
        release.set()
