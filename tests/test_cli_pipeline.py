"""The pipeline commands end to end: enqueue, status, locks, retry/reset, state, health."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mamfast.engine import keys, locks
from tests.support.library import age, audible, book
from tests.support.processes import ROOT, settings_env, stop

FIXTURES = Path(__file__).parent / "fixtures" / "legacy"
RECORD_FIELDS = {
    "asin",
    "title",
    "author",
    "source_dir",
    "staging_dir",
    "torrent_path",
    "json_path",
    "infohash",
    "stage",
    "status",
    "checkpoints",
    "attempts",
    "last_error",
    "error_type",
    "first_failed_at",
    "updated_at",
}


def library_book(settings, asin: str) -> None:
    folder = book(
        settings.library_dir / "Author" / f"Book {{ASIN.{asin}}}",
        ["Book.m4b"],
        metadata=audible(asin, f"Book {asin}", authors=["Author"]),
    )
    age(folder)


async def test_scan_lock_conflict_says_who_holds_it_and_how_to_clear(cli, settings, redis):
    library_book(settings, "B0CLISCAN1")
    held = await locks.try_acquire(redis, keys.SCAN_LOCK, ttl=30, purpose="mamfast enqueue")
    assert held is not None
    result = await asyncio.to_thread(cli, "enqueue")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "Another mamfast scan is already running" in text
    assert f"held by mamfast enqueue on host {keys.hostname()} pid {os.getpid()}" in text
    assert "mamfast unlock mamfast:lock:scan" in text and "--no-run-lock" in text

    result = await asyncio.to_thread(cli, "enqueue", "--no-run-lock", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [r["outcome"] for r in report["releases"]] == ["new"]


async def test_enqueue_dry_run_json_lists_rejects(cli, settings, redis):
    library_book(settings, "B0CLIDRY01")
    broken = settings.library_dir / "Nobody" / "No ASIN Here"
    book(broken, ["x.m4b"])
    age(broken)
    result = await asyncio.to_thread(cli, "enqueue", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [r["outcome"] for r in report["releases"]] == ["would-enqueue"]
    assert [Path(r["path"]).name for r in report["discovery"]["rejects"]] == ["No ASIN Here"]
    assert await redis.zcard(keys.RELEASES) == 0  # a dry run changes nothing


def test_status_json_has_the_record_fields(cli):
    assert cli("state", "import", str(FIXTURES / "processed_v1.json")).exit_code == 0
    result = cli("status", "--json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert {r["asin"] for r in records} == {"B09GHD1R2R", "B08G9PRS1K", "B0BADB00K1"}
    assert all(set(r) >= RECORD_FIELDS for r in records)
    failed = json.loads(cli("status", "--json", "--failed").output)
    assert [r["asin"] for r in failed] == ["B0BADB00K1"]
    detail = cli("status", "B0BADB00K1").output
    assert "needs_attention" in detail and "mkbrr create timed out" in detail
    assert cli("status", "B0NOTHERE0").exit_code == 1


def test_state_import_reports_skipped_entries(cli, tmp_path):
    result = cli("state", "import", str(FIXTURES / "processed_v1.json"))
    assert result.exit_code == 0
    assert (
        "skipped: processed '/mnt/user/data/audiobooks/Unknown/Some Homebrew Book'" in result.output
    )
    assert "imported 3 release(s)" in result.output
    out = tmp_path / "export.json"
    assert cli("state", "export", "-o", str(out)).exit_code == 0
    assert len(json.loads(out.read_text())["releases"]) == 3


def test_retry_and_reset_commands(cli):
    cli("state", "import", str(FIXTURES / "processed_v1.json"))
    result = cli("retry", "B0BADB00K1")
    assert result.exit_code == 0 and "B0BADB00K1: stage queued" in result.output
    refused = cli("retry", "B09GHD1R2R")
    assert refused.exit_code == 1 and "has not failed" in refused.output
    result = cli("reset", "B09GHD1R2R", "--stage", "upload")
    assert result.exit_code == 0 and "upload queued" in result.output
    assert cli("retry").exit_code == 2


async def test_locks_and_unlock(cli, redis):
    assert "no locks held" in (await asyncio.to_thread(cli, "locks")).output
    await locks.try_acquire(redis, keys.release_lock("B0LOCKED01"), ttl=60, purpose="stage job x")
    listing = (await asyncio.to_thread(cli, "locks")).output
    assert "mamfast:lock:release:B0LOCKED01" in listing and "stage job x" in listing
    unconfirmed = await asyncio.to_thread(cli, "unlock", "mamfast:lock:release:B0LOCKED01")
    assert unconfirmed.exit_code == 1
    result = await asyncio.to_thread(cli, "unlock", "release:B0LOCKED01", "--yes")
    assert result.exit_code == 0 and "released" in result.output
    assert not await redis.exists(keys.release_lock("B0LOCKED01"))


def test_a_bad_setting_is_one_line_naming_the_key(cli, monkeypatch):
    monkeypatch.setenv("MAMFAST_LOCK_TTL", "soon")
    result = cli("status")
    assert result.exit_code == 2
    assert "MAMFAST_LOCK_TTL" in result.output and "soon" not in result.output


def test_an_unreachable_redis_is_one_plain_line_not_a_traceback(cli, monkeypatch):
    from mamfast.ops.embedded import free_port

    monkeypatch.setenv("MAMFAST_REDIS_URL", f"redis://:s3cret@127.0.0.1:{free_port()}/0")
    result = cli("status")
    assert result.exit_code == 1
    assert "cannot reach Redis at redis://:***@127.0.0.1:" in result.output
    assert "MAMFAST_REDIS_URL" in result.output and "s3cret" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_a_library_folder_that_is_not_there_stops_the_scan(cli, monkeypatch, tmp_path):
    # An unmounted volume looks like a missing folder: that is not "nothing to do".
    monkeypatch.setenv("MAMFAST_LIBRARY_DIR", str(tmp_path / "not-mounted"))
    result = cli("enqueue")
    assert result.exit_code == 2
    assert f"MAMFAST_LIBRARY_DIR {tmp_path / 'not-mounted'} does not exist" in result.output


@pytest.mark.slow
def test_health_and_arq_check_follow_a_real_worker(settings, tmp_path):
    env = settings_env(settings)
    mamfast = [sys.executable, "-m", "mamfast"]

    def health(*extra: str) -> int:
        return subprocess.run(
            [*mamfast, "health", *extra], env=env, cwd=ROOT, timeout=60
        ).returncode

    def arq_check() -> int:
        command = [sys.executable, "-m", "arq", "workers.settings.WorkerSettings", "--check"]
        return subprocess.run(
            command, env=env, cwd=ROOT, timeout=60, capture_output=True
        ).returncode

    assert health() == 1 and arq_check() == 1
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [*mamfast, "worker", "--queue", "default"], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while health("--queue", "default") != 0:
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.5)
        assert health("--queue", "hash") == 1  # no hash worker on this host
        assert arq_check() == 0
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert health() == 1  # a clean shutdown removes its heartbeat at once
    finally:
        stop(worker)


async def test_titles_with_markup_and_emoji_codes_print_verbatim(cli, redis):
    from mamfast.engine.store import ReleaseStore
    from mamfast.models import Release

    title = "[bold]Loud[/] :fire: Book [/] [Yen Audio]"
    await ReleaseStore(redis).create(
        Release(asin="B0MARKUP01", title=title, last_error="broke at [/] :lock:")
    )
    listing = await asyncio.to_thread(cli, "status")
    assert listing.exit_code == 0, listing.output
    detail = await asyncio.to_thread(cli, "status", "B0MARKUP01")
    assert detail.exit_code == 0, detail.output
    assert title in detail.output


def test_uploaded_marks_a_finished_release_status_shows_it_and_export_carries_it(cli, tmp_path):
    cli("state", "import", str(FIXTURES / "processed_v1.json"))
    result = cli("uploaded", "B09GHD1R2R")
    assert result.exit_code == 0 and "B09GHD1R2R: marked uploaded at" in result.output
    again = cli("uploaded", "B09GHD1R2R")
    assert again.exit_code == 1 and "already marked uploaded" in again.output
    unfinished = cli("uploaded", "B0BADB00K1")
    assert unfinished.exit_code == 1 and "is not ready yet" in unfinished.output

    listing = cli("status").output
    row = next(line for line in listing.splitlines() if "B09GHD1R2R" in line)
    assert "uploaded" in row and "0s ago" in row
    assert "1 marked uploaded to MAM" in listing
    assert "uploaded to MAM" in cli("status", "B09GHD1R2R").output
    out = tmp_path / "export.json"
    assert cli("state", "export", "-o", str(out)).exit_code == 0
    exported = {r["asin"]: r for r in json.loads(out.read_text())["releases"]}
    assert exported["B09GHD1R2R"]["mam_uploaded_at"] is not None
    assert exported["B0BADB00K1"]["mam_uploaded_at"] is None

    undone = cli("uploaded", "B09GHD1R2R", "--undo")
    assert undone.exit_code == 0 and "no longer marked uploaded" in undone.output
    assert "marked uploaded to MAM" not in cli("status").output
    assert cli("uploaded", "not-an-asin").exit_code == 2
