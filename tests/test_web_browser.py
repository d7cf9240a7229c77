"""The dashboard in a real headless Chromium, beside a real `mamfast worker`.

`mamfast web` and `mamfast worker --queue all` run as the user runs them (their own
processes, on the test's Redis); Playwright drives Debian's `chromium` through
`executable_path`. The user's day: sign in, rescan, watch the releases move through
the stages without a reload, retry the one that failed once its file is fixed, copy a
release's fast-fill JSON, mark it uploaded. Screenshots go to $SCREENSHOT_DIR when set
(the README's come from `SCREENSHOT_DIR=docs/screenshots`), else to the test's folder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mamfast.cli.common import opened_engine
from mamfast.ops.demo import write_demo_library
from tests.conftest import make_settings
from tests.support.processes import settings_env, start_cli, stop

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-test-token-0123456789abcdef"
PASSKEY = "browserpasskey0123456789abcdef01"
GOOD, BROKEN = "B0DEMO0001", "B0DEMO0002"
WAIT_MS = 90_000

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium (scripts/system-deps.sh test)"
)

# Records every value a row's stage and status cells take, in order, per ASIN, and marks
# the page: a reload would lose both.
OBSERVE = """
() => {
  window.__sameDocument = true;
  window.__seen = {};
  const note = () => document.querySelectorAll('#releases tbody tr').forEach(tr => {
    const stage = tr.querySelector('[data-field=stage]').textContent;
    const status = tr.querySelector('[data-field=status_label]').textContent;
    const seen = (window.__seen[tr.dataset.asin] ||= []);
    const now = stage + '/' + status;
    if (seen[seen.length - 1] !== now) seen.push(now);
  });
  new MutationObserver(note).observe(document.getElementById('releases'),
    {subtree: true, childList: true, characterData: true});
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "mamfast web exited"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def row(asin: str) -> str:
    return f'#releases tr[data-asin="{asin}"]'


async def test_the_upload_day_in_a_real_browser(tmp_path, redis, redis_server, audnex):
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    library = tmp_path / "library"
    write_demo_library(library)
    audio = next(library.rglob(f"*{BROKEN}*.m4b"))
    good_audio = audio.read_bytes()
    audio.write_bytes(b"this is not audio" * 100)  # fails at metadata, until fixed
    # Audnex answers GOOD slowly, so its metadata stage lasts longer than a tick of the
    # event stream: the page must show it running, whatever the machine's speed.
    audnex.by_asin[GOOD] = "slow"
    audnex.slow_seconds = 1.5
    port = free_port()
    settings = make_settings(
        tmp_path,
        redis_server.url,
        library_dir=library,
        audnex_url=audnex.url,
        announce_url=SecretStr(f"https://t.myanonamouse.net/tracker.php/{PASSKEY}/announce"),
        web_token=SecretStr(TOKEN),
        web_port=port,
        max_attempts=2,
    )
    env = settings_env(settings)
    logs = tmp_path / "logs"
    logs.mkdir()
    web = start_cli(
        "web", env=env, cwd=tmp_path, stdout=(logs / "web.log").open("w"), stderr=subprocess.STDOUT
    )
    worker: subprocess.Popen[Any] | None = None
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/login", web)
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_FLAGS)
            context = await browser.new_context(
                viewport={"width": 1280, "height": 860},
                permissions=["clipboard-read", "clipboard-write"],
            )
            page = await context.new_page()
            page.on("dialog", lambda dialog: dialog.accept())
            page.set_default_timeout(WAIT_MS)

            contents: list[str] = []
            await page.goto(f"{base}/login")
            await page.fill("input[name=token]", TOKEN)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base}/")

            await page.goto(f"{base}/?view=all")
            await page.wait_for_selector("#live.on")
            await page.evaluate(OBSERVE)
            await page.click("button[data-action=rescan]")
            await page.wait_for_selector("#flash.ok")
            assert "3 new release(s)" in await page.inner_text("#flash")
            await page.wait_for_selector(row(GOOD))

            worker = start_cli(
                "worker",
                "--queue",
                "all",
                env=env,
                cwd=tmp_path,
                stdout=(logs / "worker.log").open("w"),
                stderr=subprocess.STDOUT,
            )
            await page.wait_for_selector(f'{row(GOOD)} [data-field=status_label]:text-is("ready")')
            await page.wait_for_selector(
                f'{row(BROKEN)} [data-field=status_label]:text-is("needs attention")'
            )
            seen = await page.evaluate("window.__seen")
            assert await page.evaluate("window.__sameDocument") is True  # never reloaded
            assert seen[GOOD][0].startswith("stage/") and seen[GOOD][-1] == "done/ready", seen
            assert "metadata/running" in seen[GOOD], seen  # it moved through stages on screen
            # Each row offers only the actions that apply to it.
            assert await page.is_visible(f"{row(GOOD)} button[data-action=uploaded]")
            assert await page.is_hidden(f"{row(GOOD)} button[data-action=retry]")
            assert await page.is_visible(f"{row(BROKEN)} button[data-action=retry]")
            assert await page.is_hidden(f"{row(BROKEN)} button[data-action=uploaded]")
            broken_error = await page.inner_text(f"{row(BROKEN)} [data-field=error]")
            assert broken_error, "a failed release says what went wrong"
            await page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

            # Fix the file, then retry from the list (the session cookie is the token).
            audio.write_bytes(good_audio)
            await page.click(f"{row(BROKEN)} button[data-action=retry]")
            await page.wait_for_selector(
                f'{row(BROKEN)} [data-field=status_label]:text-is("ready")'
            )
            assert await page.evaluate("window.__sameDocument") is True

            await page.click(f"{row(GOOD)} a[data-field=title]")
            await page.wait_for_url(f"{base}/release/{GOOD}")
            await page.wait_for_selector("#live.on")
            shown_json = await page.inner_text("#fastfill")
            await page.click("button[data-copy=fastfill]")
            await page.wait_for_selector('button[data-copy=fastfill]:text-is("Copied")')
            copied = await page.evaluate("navigator.clipboard.readText()")
            async with opened_engine(settings) as engine:
                record = await engine.store.get(GOOD)
            assert record is not None and record.json_path
            on_disk = json.loads(Path(record.json_path).read_text())
            assert json.loads(copied) == on_disk == json.loads(shown_json)
            await page.screenshot(path=str(shots / "release.png"), full_page=True)

            await page.click("button[data-action=uploaded]")
            await page.wait_for_selector('[data-field=uploaded_at]:not(:text-is("not yet"))')
            await page.wait_for_selector("button[data-action=not-uploaded]:visible")
            async with opened_engine(settings) as engine:
                record = await engine.store.get(GOOD)
            assert record is not None and record.mam_uploaded_at is not None

            phone = await browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
            )
            small = await phone.new_page()
            await small.goto(f"{base}/?view=all")
            await small.wait_for_selector("#live.on")
            await small.screenshot(path=str(shots / "phone.png"), full_page=True)
            # Marked uploaded: the seeding duty panel says why its figures are unknown here.
            duty = await small.inner_text("#seeding")
            assert "1 release(s) marked uploaded, but no qBittorrent is configured" in duty
            await page.reload()
            assert "No qBittorrent configured" in await page.inner_text("#seeding")
            # Prometheus and the healthcheck, from the same `mamfast web`, without the token.
            for path, expected in (("/healthz", '"status": "ok"'), ("/metrics", "mamfast_")):
                answer = await pw.request.new_context()
                got = await answer.get(f"{base}{path}")
                assert got.status == 200 and expected in await got.text(), path
                contents.append(await got.text())
                await answer.dispose()
            contents += [await page.content(), await small.content()]
            await phone.close()
            await context.close()
            await browser.close()
        for text in contents:
            assert PASSKEY not in text and TOKEN not in text
        for log in logs.iterdir():  # what the dashboard and the worker printed
            assert PASSKEY not in log.read_text() and TOKEN not in log.read_text(), log.name
    finally:
        for proc in (worker, web):
            if proc is not None:
                stop(proc)
