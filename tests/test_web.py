"""`mamfast web` handlers through aiohttp's test client, on the real Redis fixture.

Who may do what (token, cookie, CSRF, loopback), escaping of outside text, no
secret in any page or event, the files a record points at read only inside the
torrent folder, and the live stream following a record.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from mamfast.config import Settings
from mamfast.engine.engine import Engine
from mamfast.models import Release, Stage, Status, utcnow
from mamfast.stages import default_pipeline
from mamfast.web.app import create_app
from mamfast.web.security import CSRF_HEADER, SESSION_COOKIE, TOKEN_HEADER, Access
from mamfast.web.token import load_or_create
from tests.conftest import make_settings

TOKEN = "test-dashboard-token-0123456789"
PASSKEY = "passkey0123456789abcdef0123456789"
ANNOUNCE = f"https://t.myanonamouse.net/tracker.php/{PASSKEY}/announce"
QBIT_PASSWORD = "qbit-password-never-shown"
READY = "B0WEBREADY"
FAILED = "B0WEBFAILD"
EVIL = "B0WEBEVIL1"
EVIL_TITLE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def web_settings(tmp_path: Path, redis_server: Any) -> Settings:
    return make_settings(
        tmp_path,
        redis_server.url,
        announce_url=SecretStr(ANNOUNCE),
        qbit_url="http://127.0.0.1:9",
        qbit_password=SecretStr(QBIT_PASSWORD),
        web_token=SecretStr(TOKEN),
    )


@pytest.fixture
async def engine(web_settings: Settings, redis: Any) -> Engine[Any]:
    return Engine(web_settings, redis, default_pipeline(web_settings))


async def client_for(engine: Engine[Any], *, open_reads: bool = True) -> TestClient[Any, Any]:
    client = TestClient(TestServer(create_app(engine, Access(TOKEN, open_reads=open_reads))))
    await client.start_server()
    return client


@pytest.fixture
async def client(engine: Engine[Any]) -> AsyncIterator[TestClient[Any, Any]]:
    client = await client_for(engine)
    yield client
    await client.close()


def finished(settings: Settings, asin: str, title: str) -> Release:
    """A ready release with its files in the torrent folder (the .torrent holds the passkey)."""
    folder = settings.torrent_folder / f"{title[:20]} {{ASIN.{asin}}}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "book.json").write_text(json.dumps({"title": title, "asin": asin}))
    (folder / "book.bbcode.txt").write_text(f"[b]{title}[/b]")
    torrent = folder / "book.torrent"
    torrent.write_bytes(f"d8:announce{len(ANNOUNCE)}:{ANNOUNCE}e".encode())
    now = utcnow()
    return Release(
        asin=asin,
        title=title,
        author="Ann Author",
        stage=Stage.DONE,
        status=Status.READY,
        json_path=str(folder / "book.json"),
        description_path=str(folder / "book.bbcode.txt"),
        torrent_path=str(torrent),
        review=["check the cover"],
        checkpoints={"staged_at": now, "metadata_at": now, "torrent_at": now},
    )


def failed(asin: str) -> Release:
    return Release(
        asin=asin,
        title="A Failed Book",
        author="B. Writer",
        stage=Stage.METADATA,
        status=Status.NEEDS_ATTENTION,
        attempts={"metadata": 5},
        last_error="MediaInfo cannot read book.m4b (re-download it in Libation)",
        error_type="InputError",
    )


@pytest.fixture
async def releases(engine: Engine[Any]) -> None:
    for release in (
        finished(engine.settings, READY, "Ready Book"),
        failed(FAILED),
        finished(engine.settings, EVIL, EVIL_TITLE),
    ):
        await engine.store.create(release)


async def next_event(response: ClientResponse, wanted: str) -> dict[str, Any]:
    """The data of the next event named `wanted` on a server-sent event stream."""
    name = ""
    while True:
        line = (await response.content.readline()).decode()
        assert line, "the stream ended"
        if line.startswith("event: "):
            name = line[len("event: ") :].strip()
        elif line.startswith("data: ") and name == wanted:
            data: dict[str, Any] = json.loads(line[len("data: ") :])
            return data


async def test_pages_open_without_the_token_on_loopback(client, releases):
    page = await client.get("/")
    assert page.status == 200
    body = await page.text()
    assert "Ready Book" in body and FAILED not in body  # "ready to upload" is the first view
    everything = await (await client.get("/?view=all")).text()
    assert "A Failed Book" in everything
    assert "re-download it in Libation" in everything and "press Retry" in everything
    detail = await client.get(f"/release/{READY}")
    assert detail.status == 200
    assert "check the cover" in await detail.text()


async def test_a_page_asked_for_under_another_host_name_needs_the_token(client, releases):
    # DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1.
    refused = await client.get("/", headers={"Host": "evil.example:8080", "Accept": "text/json"})
    assert refused.status == 401
    for host in ("localhost:8080", "127.0.0.1", "[::1]:8080"):
        assert (await client.get("/", headers={"Host": host})).status == 200


async def test_search_and_filters(client, releases):
    body = await (await client.get("/?view=all&q=writer")).text()
    assert "A Failed Book" in body and "Ready Book" not in body
    body = await (await client.get("/?view=all&status=ready&q=b0webready")).text()
    assert "Ready Book" in body and "A Failed Book" not in body


async def test_off_loopback_every_page_needs_the_token(engine, releases):
    client = await client_for(engine, open_reads=False)
    try:
        refused = await client.get("/", headers={"Accept": "application/json"})
        assert refused.status == 401
        to_login = await client.get("/", headers={"Accept": "text/html"}, allow_redirects=False)
        assert to_login.status == 303 and to_login.headers["Location"] == "/login"
        assert (await client.get("/events")).status == 401
        assert (await client.get("/login")).status == 200
        allowed = await client.get("/", headers={TOKEN_HEADER: TOKEN})
        assert allowed.status == 200
    finally:
        await client.close()


async def test_actions_and_the_torrent_need_the_token(client, engine, releases):
    assert (await client.post(f"/release/{FAILED}/retry")).status == 401
    wrong = await client.post(f"/release/{FAILED}/retry", headers={TOKEN_HEADER: TOKEN + "x"})
    assert wrong.status == 401
    assert (await client.post("/rescan")).status == 401
    assert (await client.get(f"/release/{READY}/download.torrent")).status == 401
    record = await engine.store.get(FAILED)
    assert record is not None and record.status is Status.NEEDS_ATTENTION  # nothing happened

    download = await client.get(f"/release/{READY}/download.torrent", headers={TOKEN_HEADER: TOKEN})
    assert download.status == 200
    assert PASSKEY.encode() in await download.read()  # the file itself, for the user only
    assert "attachment" in download.headers["Content-Disposition"]


async def test_retry_and_mark_uploaded_with_the_token(client, engine, releases):
    retried = await client.post(f"/release/{FAILED}/retry", headers={TOKEN_HEADER: TOKEN})
    assert retried.status == 200 and (await retried.json())["ok"]
    record = await engine.store.get(FAILED)
    assert record is not None and record.status is Status.QUEUED and not record.attempts

    marked = await client.post(f"/release/{READY}/uploaded", headers={TOKEN_HEADER: TOKEN})
    assert (await marked.json())["ok"]
    record = await engine.store.get(READY)
    assert record is not None and record.mam_uploaded_at is not None
    ready = await (await client.get("/")).text()
    # The ready list shrinks as the user works (the book moves to the seeding duty).
    assert f'<tr data-asin="{READY}"' not in ready and f'<tr data-duty="{READY}"' in ready
    uploaded = await (await client.get("/?view=uploaded")).text()
    assert "Ready Book" in uploaded and "keep it seeding" in uploaded
    undone = await client.post(
        f"/release/{READY}/uploaded", data={"uploaded": "0"}, headers={TOKEN_HEADER: TOKEN}
    )
    assert (await undone.json())["ok"]
    record = await engine.store.get(READY)
    assert record is not None and record.mam_uploaded_at is None


async def test_an_action_that_cannot_apply_says_why(client, releases):
    again = await client.post(f"/release/{READY}/retry", headers={TOKEN_HEADER: TOKEN})
    assert again.status == 409
    assert "has not failed" in (await again.json())["message"]
    bad_stage = await client.post(
        f"/release/{READY}/reset", data={"stage": "done"}, headers={TOKEN_HEADER: TOKEN}
    )
    assert bad_stage.status == 409 and "choose a stage" in (await bad_stage.json())["message"]
    not_ready = await client.post(f"/release/{FAILED}/uploaded", headers={TOKEN_HEADER: TOKEN})
    assert "not ready yet" in (await not_ready.json())["message"]


async def test_reset_runs_the_stage_again(client, engine, releases):
    reset = await client.post(
        f"/release/{READY}/reset", data={"stage": "torrent"}, headers={TOKEN_HEADER: TOKEN}
    )
    assert (await reset.json())["ok"]
    record = await engine.store.get(READY)
    assert record is not None and record.stage is Stage.TORRENT


async def test_a_signed_in_browser_needs_its_origin_and_the_csrf_value(client, engine, releases):
    refused = await client.post("/login", data={"token": "not it"})
    assert refused.status == 401 and SESSION_COOKIE not in client.session.cookie_jar.filter_cookies(
        client.make_url("/")
    )
    signed = await client.post("/login", data={"token": TOKEN}, allow_redirects=False)
    assert signed.status == 303
    cookie = signed.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert TOKEN not in cookie.value  # the cookie is derived from the token, not the token
    page = await (await client.get("/")).text()
    csrf = Access(TOKEN, open_reads=True).csrf
    assert csrf in page and TOKEN not in page
    origin = str(client.make_url("/")).rstrip("/")
    url = f"/release/{FAILED}/retry"

    no_origin = await client.post(url, headers={CSRF_HEADER: csrf})
    elsewhere = await client.post(
        url, headers={CSRF_HEADER: csrf, "Origin": "https://evil.example"}
    )
    no_csrf = await client.post(url, headers={"Origin": origin})
    wrong_csrf = await client.post(url, headers={"Origin": origin, CSRF_HEADER: "0" * 64})
    assert [r.status for r in (no_origin, elsewhere, no_csrf, wrong_csrf)] == [403] * 4
    record = await engine.store.get(FAILED)
    assert record is not None and record.status is Status.NEEDS_ATTENTION

    form = await client.post(url, data={"csrf": csrf}, headers={"Origin": origin})
    assert form.status == 200 and (await form.json())["ok"]

    out = await client.post(
        "/logout", data={"csrf": csrf}, headers={"Origin": origin}, allow_redirects=False
    )
    assert out.status == 303 and out.cookies[SESSION_COOKIE].value == ""
    client.session.cookie_jar.clear()
    after = await client.post(url, data={"csrf": csrf}, headers={"Origin": origin})
    assert after.status == 401


async def test_html_in_a_title_is_shown_as_text(client, releases):
    for path in ("/", f"/release/{EVIL}"):
        body = await (await client.get(path)).text()
        assert EVIL_TITLE not in body
        assert "<script>alert" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body
    page = await client.get("/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


async def test_no_secret_in_any_page_or_event(client, engine, releases):
    secrets = [PASSKEY, QBIT_PASSWORD, TOKEN]
    bodies = []
    for path in (
        "/",
        "/?view=all",
        "/login",
        f"/release/{READY}",
        f"/release/{FAILED}",
        f"/release/{READY}/fastfill.json",
        f"/release/{READY}/description.txt",
        "/static/dashboard.js",
    ):
        response = await client.get(path)
        assert response.status == 200, path
        bodies.append(await response.text())
        bodies.append(str(dict(response.headers)))
    stream = await client.get("/events?view=all")
    for _ in range(3):
        bodies.append(json.dumps(await next_event(stream, "release")))
    bodies.append(json.dumps(await next_event(stream, "pool")))
    stream.close()
    for secret in secrets:
        assert not any(secret in body for body in bodies), secret


async def test_metrics_and_healthz_answer_without_the_token_and_show_no_secret(engine, releases):
    client = await client_for(engine, open_reads=False)  # off loopback: pages need the token
    try:
        assert (await client.get("/")).status == 401
        metrics = await client.get("/metrics")
        text = await metrics.text()
        assert metrics.status == 200 and metrics.content_type == "text/plain"
        assert 'mamfast_releases{stage="done",status="ready"} 2.0' in text
        assert 'mamfast_releases{stage="metadata",status="needs_attention"} 1.0' in text
        health = await client.get("/healthz")
        assert health.status == 200 and await health.json() == {"status": "ok", "redis": "ok"}
        seen = [text, str(dict(metrics.headers)), str(dict(health.headers))]
        for secret in (PASSKEY, QBIT_PASSWORD, TOKEN, "Ready Book", "<script>", READY):
            assert not any(secret in body for body in seen), secret
    finally:
        await client.close()


async def test_seeding_duty_says_why_it_is_unknown_and_never_fails_the_page(engine, releases):
    """qBittorrent down (the settings point at a closed port) or not configured: the
    pages still open and say so in plain words, without the qBittorrent password."""
    marked = finished(engine.settings, "B0WEBSEED1", "Seeded Book")
    marked = marked.model_copy(update={"infohash": "ab" * 20, "mam_uploaded_at": utcnow()})
    await engine.store.create(marked)
    client = await client_for(engine)
    try:
        for path in ("/", "/release/B0WEBSEED1"):
            response = await client.get(path)
            text = await response.text()
            assert response.status == 200, path
            assert "Could not ask qBittorrent" in text and "cannot reach qBittorrent" in text
            assert "What to do:" in text and QBIT_PASSWORD not in text
        assert "Seeding duty" not in await (await client.get(f"/release/{READY}")).text()
    finally:
        await client.close()
    engine.settings = engine.settings.model_copy(update={"qbit_url": None})
    client = await client_for(engine)
    try:
        index = await (await client.get("/")).text()
        assert "1 release(s) marked uploaded, but no qBittorrent is configured" in index
        page = await (await client.get("/release/B0WEBSEED1")).text()
        assert "No qBittorrent configured (MAMFAST_QBIT_URL is not set)" in page
    finally:
        await client.close()


async def test_files_outside_the_torrent_folder_are_never_read(client, engine, tmp_path):
    outside = tmp_path / "not-ours.txt"
    outside.write_text("PRIVATE CONTENT")
    release = failed("B0WEBOUTSD").model_copy(
        update={
            "json_path": str(outside),
            "description_path": "/etc/passwd",
            "torrent_path": str(outside),
        }
    )
    await engine.store.create(release)
    page = await (await client.get("/release/B0WEBOUTSD")).text()
    assert "PRIVATE CONTENT" not in page and "root:" not in page
    assert (await client.get("/release/B0WEBOUTSD/fastfill.json")).status == 404
    download = await client.get(
        "/release/B0WEBOUTSD/download.torrent", headers={TOKEN_HEADER: TOKEN}
    )
    assert download.status == 404


async def test_the_stream_follows_a_record(client, engine, releases):
    stream = await client.get(f"/events?asin={READY}")
    first = await next_event(stream, "release")
    assert first["asin"] == READY and first["ready"] and not first["uploaded"]
    await client.post(f"/release/{READY}/uploaded", headers={TOKEN_HEADER: TOKEN})
    after = await next_event(stream, "release")
    assert after["uploaded"] and not after["ready"] and after["uploaded_at"]
    stream.close()


async def test_every_answer_carries_the_security_headers_event_streams_and_errors_too(
    client, releases
):
    stream = await client.get(f"/events?asin={READY}")
    missing = await client.get("/release/B0NOSUCH00")
    refused = await client.post(f"/release/{READY}/retry")
    for response in (stream, missing, refused, await client.get("/")):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert stream.headers["Cache-Control"] == "no-store"
    stream.close()


async def test_the_list_stream_sends_the_rows_of_its_view_and_takes_leavers_away(
    client, engine, releases
):
    stream = await client.get("/events?view=failed")
    first = await next_event(stream, "release")
    assert first["asin"] == FAILED and first["shown"]  # the other two are not on this page
    counts = await next_event(stream, "counts")
    assert counts["failed"] == 1 and counts["ready"] == 2 and counts["all"] == 3
    await client.post(f"/release/{FAILED}/retry", headers={TOKEN_HEADER: TOKEN})
    left = await next_event(stream, "release")
    assert left["asin"] == FAILED and not left["shown"] and left["status"] == "queued"
    await engine.store.delete(FAILED)
    assert (await next_event(stream, "gone"))["asin"] == FAILED
    stream.close()


async def test_rescan_queues_the_library(client, engine):
    from mamfast.ops.demo import write_demo_library

    write_demo_library(engine.settings.library_dir)
    scanned = await client.post("/rescan", headers={TOKEN_HEADER: TOKEN})
    answer = await scanned.json()
    assert answer["ok"] and "3 new release(s)" in answer["message"], answer
    assert len(await engine.store.asins()) == 3


def test_the_token_is_made_once_and_kept_for_the_owner_only(tmp_path, redis_server):
    settings = make_settings(tmp_path, redis_server.url)
    made = load_or_create(settings)
    assert made.generated and made.path is not None and len(made.value) >= 32
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600
    again = load_or_create(settings)
    assert not again.generated and again.value == made.value
    configured = load_or_create(settings.model_copy(update={"web_token": SecretStr(TOKEN)}))
    assert configured.value == TOKEN and configured.path is None


def test_mamfast_web_attaches_to_the_private_redis_and_prints_a_new_token_once(tmp_path):
    """The embedded default: `mamfast run`, then `mamfast web` on the same data dir."""
    import socket
    import urllib.request

    from mamfast.ops.demo import write_demo_library
    from mamfast.ops.embedded import embedded_server
    from tests.support.processes import run_cli, settings_env, start_cli

    library = tmp_path / "library"
    write_demo_library(library)
    settings = make_settings(tmp_path, "", library_dir=library).model_copy(
        update={"redis_url": None}
    )
    env = settings_env(settings)
    assert "MAMFAST_REDIS_URL" not in env and "MAMFAST_WEB_TOKEN" not in env
    assert run_cli("run", env=env, cwd=tmp_path).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def serve_once() -> tuple[str, str]:
        web = start_cli("web", "--port", str(port), env=env, cwd=tmp_path)
        try:
            for _ in range(150):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/?view=all") as page:
                        body = page.read().decode()
                    break
                except OSError:
                    assert web.poll() is None, web.communicate()
                    time.sleep(0.2)
            else:
                raise AssertionError("mamfast web did not answer")
        finally:
            web.terminate()
            out, err = web.communicate(timeout=30)
        assert web.returncode == 0, err
        return body, out

    first_page, first_out = serve_once()
    token_file = settings.data_dir / "web-token"
    token = token_file.read_text().strip()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token in first_out  # printed when made
    assert all(f"B0DEMO000{n}" in first_page for n in (1, 2, 3))
    assert token not in first_page
    second_page, second_out = serve_once()
    assert "B0DEMO0001" in second_page
    assert token not in second_out and token_file.read_text().strip() == token  # only once
    assert embedded_server(settings).running_pid() is None  # the last user stopped it


async def test_the_list_stream_shows_changes_made_elsewhere_to_finished_releases(
    client, engine, releases
):
    """Finished records are read less often than moving ones, but still within seconds."""
    import asyncio

    from mamfast.engine import control

    stream = await client.get("/events?view=all")
    rows = {}
    while len(rows) < 3:
        row = await next_event(stream, "release")
        rows[row["asin"]] = row
    assert not rows[READY]["uploaded"]
    result = await control.mark_uploaded(engine, READY)  # as `mamfast uploaded` would
    assert result.ok
    changed = await asyncio.wait_for(next_event(stream, "release"), timeout=10)
    assert changed["asin"] == READY and changed["uploaded"]
    stream.close()


async def test_a_running_release_shows_its_hash_progress_and_a_retrying_one_its_next_try(
    client, engine, redis
):
    from mamfast.engine import keys

    running = Release(
        asin="B0WEBHASH1", title="Hashing", stage=Stage.TORRENT, status=Status.RUNNING
    )
    retrying = Release(
        asin="B0WEBRETRY",
        title="Retrying",
        stage=Stage.UPLOAD,
        status=Status.RETRYING,
        attempts={"upload": 2},
        last_error="qBittorrent did not answer (check MAMFAST_QBIT_URL)",
        next_attempt_at=utcnow(),
    )
    for release in (running, retrying):
        await engine.store.create(release)
    await redis.hset(
        keys.progress("B0WEBHASH1"),
        mapping={"stage": "torrent", "done": 420_000_000, "total": 10**9},
    )
    body = await (await client.get("/?view=active")).text()
    assert "hashing 42% (420 of 1,000 MB)" in body
    assert "tries again by itself at" in body and "(attempt 2 of 5)" in body
    assert "qBittorrent did not answer" in body


async def test_damaged_records_are_named_with_what_to_do(client, redis, releases):
    from tests.support.records import plant_record, record_doc

    await plant_record(redis, "B0WEBDAMGD", record_doc("B0WEBDAMGD", stage="no-such-stage"))
    body = await (await client.get("/?view=all")).text()
    assert "Damaged records" in body and "mamfast state forget B0WEBDAMGD" in body
    assert "Ready Book" in body  # the others are still listed


async def test_the_workers_panel_shows_queues_heartbeats_health_and_the_breaker(client, redis):
    from mamfast.engine import keys
    from mamfast.engine.liveness import Liveness

    await redis.zadd(keys.HASH_QUEUE, {"job-a": 1, "job-b": 2})
    # A worker beats as `mamfast worker` does (engine.liveness), running one stage job.
    alive = Liveness(redis, [keys.HASH_QUEUE], started_at=time.time() - 7200)
    alive.jobs.add("mamfast:B0WEBREADY:torrent:1")
    await alive.beat()
    # Another host's worker (its name is outside text) that stopped beating 10 s ago.
    now_s, _ = await redis.time()
    other = {"id": "w2", "host": "box<b>", "pid": 4242, "queues": ["default"], "started_at": 0}
    await redis.hset(keys.ALIVE, "w2", json.dumps(other))
    await redis.zadd(keys.ALIVE_BEATS, {"w2": (int(now_s) - 10) * 1000})
    await redis.set(keys.arq_health(keys.HASH_QUEUE, "box"), "j_complete=7 queued=2", ex=60)
    now_s, _ = await redis.time()
    await redis.hset(keys.AUDNEX_BREAKER, mapping={"failures": 5, "opened_at": int(now_s) * 1000})
    body = await (await client.get("/?view=all")).text()
    assert "hash: 2 waiting" in body
    host = keys.hostname()
    assert re.search(
        rf"hash · {re.escape(host)} pid {os.getpid()} · up 2h · last beat [0-4]s ago", body
    )
    assert "1 job(s) running: B0WEBREADY torrent" in body
    assert "default · box&lt;b&gt; pid 4242" in body and "box<b>" not in body
    assert re.search(
        r"last beat 1\ds ago · 0 job\(s\) running · silent: its leases are freed", body
    )
    stream = await client.get("/events?view=all")
    workers = (await next_event(stream, "pool"))["workers"]
    stream.close()
    assert [(w["host"], w["pid"], w["jobs"]) for w in workers] == [
        ("box<b>", 4242, []),  # started first (epoch 0); the browser sets it as text
        (host, os.getpid(), ["B0WEBREADY torrent"]),
    ]
    assert "hash @ box: j_complete=7 queued=2" in body
    assert "open: Audnex failed 5 time(s) in a row" in body


async def test_the_torrent_needs_the_token_however_its_path_is_spelt(client, releases):
    for path in (
        f"/release/{READY}/download.torrent",
        f"/release/{READY.lower()}/download.torrent",
        f"/release/{READY}/download%2Etorrent",
    ):
        assert (await client.get(path)).status == 401, path
        assert (await client.head(path)).status == 401, path


async def test_redis_gone_is_one_plain_line_in_pages_and_events(web_settings, redis_server):
    """A dashboard whose Redis stops answering says so, without the URL's password."""
    from arq.connections import ArqRedis

    url = "redis://:hunter2-redis-password@127.0.0.1:9/0"
    dead = ArqRedis.from_url(url)
    engine = Engine(web_settings.model_copy(update={"redis_url": SecretStr(url)}), dead, {})
    client = await client_for(engine)
    try:
        page = await client.get("/")
        text = await page.text()
        assert page.status == 503 and "cannot reach Redis" in text
        assert "start Redis" in text and "hunter2" not in text
        stream = await client.get("/events")
        problem = await next_event(stream, "problem")
        assert "cannot reach Redis" in problem["message"] and "hunter2" not in problem["message"]
        stream.close()
        health = await client.get("/healthz")
        assert health.status == 503 and (await health.json())["status"] == "unavailable"
        metrics = await client.get("/metrics")
        assert metrics.status == 503 and "Redis unavailable" in await metrics.text()
        assert "hunter2" not in await health.text() + await metrics.text()
    finally:
        await client.close()
        await dead.aclose()


def test_a_token_that_cannot_be_kept_is_one_line_with_what_to_do(tmp_path, redis_server):
    from mamfast.errors import ConfigError

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the data dir should be")
    settings = make_settings(tmp_path, redis_server.url, data_dir=blocked)
    with pytest.raises(ConfigError) as info:
        load_or_create(settings)
    assert "cannot read the dashboard token" in str(info.value)
    assert "MAMFAST_DATA_DIR must be a folder" in str(info.value)
    # Nothing there yet, and no way to make it (a folder that cannot be created).
    unwritable = settings.model_copy(update={"data_dir": Path("/proc/mamfast-web-test")})
    with pytest.raises(ConfigError) as info:
        load_or_create(unwritable)
    assert "cannot keep a new dashboard token" in str(info.value)
    assert "MAMFAST_WEB_TOKEN" in str(info.value)
    short = settings.model_copy(update={"web_token": SecretStr("short")})
    with pytest.raises(ConfigError, match="shorter than 16"):
        load_or_create(short)


async def test_stopping_the_server_ends_open_event_streams_at_once(engine, releases):
    import asyncio
    import socket

    import aiohttp

    from mamfast.web.serve import serve

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine.settings = engine.settings.model_copy(update={"web_port": port})
    stop = asyncio.Event()
    ready = asyncio.Event()
    server = asyncio.create_task(serve(engine, TOKEN, stop=stop, on_ready=lambda *_: ready.set()))
    await asyncio.wait_for(ready.wait(), 10)
    async with aiohttp.ClientSession() as session:
        stream = await session.get(f"http://127.0.0.1:{port}/events?view=all")
        assert (await next_event(stream, "release"))["asin"]
        started = asyncio.get_running_loop().time()
        stop.set()
        await asyncio.wait_for(server, 10)
        assert asyncio.get_running_loop().time() - started < 3
        stream.close()
