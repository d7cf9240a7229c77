"""MAMFAST_LIBATION_COMMAND: run before scheduled scans and `mamfast run`'s scan, no shell,
a timeout; whatever happens to it, the scan goes on and the outcome is said in plain words."""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from pathlib import Path

from mamfast.engine import keys, locks
from mamfast.models import Status
from mamfast.ops import libation, scheduler
from mamfast.ops.demo import write_demo_library
from mamfast.ops.runner import run
from mamfast.stages import default_pipeline
from tests.conftest import make_settings
from tests.support.engine_stages import instrumented_pipeline
from tests.support.library import age, audible, book
from workers import jobs
from workers.serve import serve


def downloaded_book(folder: Path, asin: str) -> Path:
    made = book(
        folder / "Author" / f"Title {asin} {{ASIN.{asin}}}",
        ["Title.m4b"],
        metadata=audible(asin, f"Title {asin}", authors=["Author"]),
    )
    age(made)
    return made


def command(*argv: object) -> str:
    return shlex.join(str(a) for a in argv)


async def test_a_scheduled_scan_sees_what_the_libation_command_downloaded(
    make_services, settings, tmp_path
):
    incoming = tmp_path / "incoming"
    downloaded_book(incoming, "B0LIBATIO1")
    # "Libation" moves a finished download into the library, as its liberate step does.
    res = await make_services(
        instrumented_pipeline(),
        libation_command=command("mv", incoming / "Author", settings.library_dir / "Author"),
    )
    assert await jobs.scheduled_scan({"services": res}) == "new=1"
    assert await res.engine.store.get("B0LIBATIO1") is not None


async def test_a_failing_command_is_said_and_the_scan_goes_on(make_services, settings, caplog):
    downloaded_book(settings.library_dir, "B0LIBFAIL1")
    script = "echo 'Libation: your Audible login expired' >&2; exit 3"
    res = await make_services(instrumented_pipeline(), libation_command=command("sh", "-c", script))
    report = await scheduler.scan_if_due(res.engine)
    assert report is not None and report.new == 1
    assert "the Libation command exited with code 3: Libation: your Audible login expired" in (
        caplog.text
    )
    assert "the scan goes on" in caplog.text


async def test_a_command_that_hangs_is_stopped_at_the_timeout_and_the_scan_goes_on(
    make_services, settings, tmp_path, caplog
):
    downloaded_book(settings.library_dir, "B0LIBSLOW1")
    pid_file = tmp_path / "child.pid"
    hang = f"echo $$ > {shlex.quote(str(pid_file))}; exec sleep 60"
    res = await make_services(
        instrumented_pipeline(),
        libation_command=command("sh", "-c", hang),
        libation_timeout=0.5,
    )
    started = time.monotonic()
    report = await scheduler.scan_if_due(res.engine)
    assert time.monotonic() - started < 10
    assert report is not None and report.new == 1
    assert "did not finish within 0.5s and was stopped" in caplog.text
    assert "MAMFAST_LIBATION_TIMEOUT" in caplog.text
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


async def test_a_missing_program_or_bad_quoting_is_said(settings):
    missing = settings.model_copy(update={"libation_command": "/nonexistent/LibationCli scan"})
    outcome = await libation.run_command(missing)
    assert not outcome.ok
    assert "cannot start the Libation command '/nonexistent/LibationCli'" in outcome.message
    assert "MAMFAST_LIBATION_COMMAND" in outcome.message
    unquoted = settings.model_copy(update={"libation_command": 'docker exec "Libation'})
    outcome = await libation.run_command(unquoted)
    assert not outcome.ok and "cannot be read as a command line" in outcome.message


async def test_the_command_runs_without_a_shell(settings, tmp_path):
    marker = tmp_path / "injected"
    text = f"echo scan; touch {marker}"  # a shell would run `touch`; we pass it to echo
    outcome = await libation.run_command(settings.model_copy(update={"libation_command": text}))
    assert outcome.ok
    assert not marker.exists()


async def test_while_another_process_runs_it_the_scan_waits(make_services, settings, tmp_path):
    marker = tmp_path / "ran"
    downloaded_book(settings.library_dir, "B0LIBBUSY1")
    res = await make_services(instrumented_pipeline(), libation_command=command("touch", marker))
    held = await locks.try_acquire(res.engine.redis, keys.LIBATION_LOCK, ttl=30, purpose="test")
    assert held is not None
    assert await scheduler.scan_if_due(res.engine) is None  # the holder scans after it
    assert not marker.exists()
    await locks.release(res.engine.redis, held)
    report = await scheduler.scan_if_due(res.engine)
    assert report is not None and report.new == 1 and marker.exists()


async def test_no_command_changes_nothing(make_services, settings):
    res = await make_services(instrumented_pipeline())
    assert await libation.before_scan(res.engine) is None


async def test_mamfast_run_runs_it_before_its_scan(tmp_path):
    incoming = tmp_path / "incoming"
    write_demo_library(incoming)
    library = tmp_path / "library"
    library.mkdir()
    moved = sorted(p.name for p in incoming.iterdir())
    settings = make_settings(
        tmp_path,
        "",
        library_dir=library,
        libation_command=command(sys.executable, "-c", MOVE, incoming, library),
    ).model_copy(update={"redis_url": None})
    result = await run(settings, stages=default_pipeline(settings), serve=serve)
    assert result.libation is not None and result.libation.ok
    assert {r.status for r in result.releases} == {Status.READY}
    assert len(result.releases) == 3  # the demo's three good books, found after the move
    assert sorted(p.name for p in library.iterdir()) == moved


# Moves every top-level folder of argv[1] into argv[2] (what Libation's download amounts to).
MOVE = (
    "import shutil, sys, pathlib\n"
    "src, dst = map(pathlib.Path, sys.argv[1:3])\n"
    "[shutil.move(str(p), str(dst / p.name)) for p in sorted(src.iterdir())]\n"
)


async def test_doctor_checks_the_command_can_start_without_running_it(settings, tmp_path):
    from mamfast.ops import doctor

    assert (await doctor.check_libation(settings)).skipped
    missing = settings.model_copy(update={"libation_command": "/nonexistent/LibationCli scan"})
    check = await doctor.check_libation(missing)
    assert not check.ok and "/nonexistent/LibationCli not found" in check.detail
    assert "MAMFAST_LIBATION_COMMAND" in check.fix
    marker = tmp_path / "ran"
    good = settings.model_copy(update={"libation_command": command("touch", marker)})
    check = await doctor.check_libation(good)
    assert check.ok and not check.skipped
    assert not marker.exists()  # checked, never run: it would download books


def test_the_worker_cron_gives_the_command_its_time(settings):
    """arq's timeout on the scan cron must not cut the command short: it would kill the
    download on every tick and the scan after it would never run."""
    from workers.settings import worker_options

    def scan_timeout(chosen) -> float:
        crons = worker_options(chosen, keys.DEFAULT_QUEUE)["cron_jobs"]
        return next(c.timeout_s for c in crons if c.name == "scan")

    plain = scan_timeout(settings)
    with_libation = settings.model_copy(
        update={"libation_command": "LibationCli scan", "libation_timeout": 15000}
    )
    assert scan_timeout(with_libation) >= plain + 15000


async def test_mamfast_run_says_a_failure_in_plain_words_and_goes_on(cli, monkeypatch):
    script = "echo 'Libation: login expired, run Libation once to sign in' >&2; exit 2"
    monkeypatch.setenv("MAMFAST_LIBATION_COMMAND", command("sh", "-c", script))
    result = await asyncio.to_thread(cli, "run")
    assert result.exit_code == 0, result.output  # an empty library: nothing needs attention
    text = " ".join(result.output.split())
    assert "running MAMFAST_LIBATION_COMMAND first (up to 3600s)" in text
    assert (
        "libation: the Libation command exited with code 2: Libation: login expired, run "
        "Libation once to sign in; the scan goes on" in text
    )
    assert "0 new" in text  # the scan ran after it
    skipped = await asyncio.to_thread(cli, "run", "--no-libation")
    assert skipped.exit_code == 0 and "libation" not in skipped.output.lower()
