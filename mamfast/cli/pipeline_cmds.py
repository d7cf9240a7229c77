"""Pipeline commands: enqueue, worker, status, retry, reset, recover, locks, state, health."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mamfast.cli import prune_cmds, render
from mamfast.cli.common import (
    asin_arg,
    console,
    err_console,
    fail,
    run_async,
    settings_or_exit,
    setup_logging,
    shown,
    with_engine,
)
from mamfast.engine import keys
from mamfast.lifecycle import Stage, Status  # Stage is an option type: Typer needs it here

# The engine modules (arq, Redis, the release store) are imported inside each
# command, so `mamfast --help` and the healthcheck do not load them.
if TYPE_CHECKING:
    from mamfast.engine import control
    from mamfast.engine.engine import Engine
    from mamfast.engine.reconcile import ReconcileReport
    from mamfast.models import Release
    from mamfast.stages.services import Services

QUEUE_CHOICES = {
    "default": [keys.DEFAULT_QUEUE],
    "hash": [keys.HASH_QUEUE],
    "all": list(keys.QUEUES.values()),
}


def register(app: typer.Typer) -> None:
    app.command()(enqueue)
    app.command()(worker)
    app.command()(scheduler)
    app.command()(status)
    app.command()(retry)
    app.command()(reset)
    app.command()(recover)
    app.command(name="locks")(list_locks)
    app.command()(unlock)
    app.command()(health)
    app.command()(uploaded)
    state = typer.Typer(help="Export or import release records.", no_args_is_help=True)
    state.command(name="export")(state_export)
    state.command(name="import")(state_import)
    state.command(name="forget")(state_forget)
    state.command(name="prune")(prune_cmds.state_prune)
    app.add_typer(state, name="state")


def enqueue(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Folders to scan (default: the library).")
    ] = None,
    asin: Annotated[
        list[str] | None,
        typer.Option("--asin", help="Only these ASINs (repeatable).", parser=asin_arg),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Show what would be enqueued; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    no_run_lock: Annotated[
        bool, typer.Option("--no-run-lock", help="Skip the scan lock (unsafe).")
    ] = False,
) -> None:
    """Scan the library and queue every release found (bad folders are reported)."""
    from mamfast.ops.enqueue import enqueue as do_enqueue

    settings = settings_or_exit()
    report = with_engine(
        settings,
        lambda engine: do_enqueue(
            engine, paths, asins=asin or (), dry_run=dry_run, run_lock=not no_run_lock
        ),
    )
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        render.enqueue_report(console, report)


def worker(
    queue: Annotated[
        str, typer.Option(help="default (stage/metadata/upload), hash (torrent) or all.")
    ] = "default",
    burst: Annotated[bool, typer.Option(help="Exit when the queue is empty.")] = False,
) -> None:
    """Run a worker until stopped (SIGTERM puts running jobs straight back in the queue).

    Without MAMFAST_REDIS_URL it uses the data dir's private Redis, keeping it
    running for as long as the worker runs.
    """
    from mamfast.ops.private_redis import redis_ready
    from workers.serve import serve

    if queue not in QUEUE_CHOICES:
        fail(f"unknown queue {queue!r}; choose default, hash or all", code=2)
    settings = settings_or_exit()
    setup_logging(settings.log_level)

    async def main() -> int:
        async with redis_ready(settings) as ready:
            return await serve(ready, QUEUE_CHOICES[queue], burst=burst)

    run_async(main())


def scheduler() -> None:
    """Rescan the library on schedule (catching up missed scans) and when files change."""
    from mamfast.cli.common import opened_engine
    from mamfast.ops import scheduler as schedule

    settings = settings_or_exit()
    if settings.library_dir is None:
        fail("MAMFAST_LIBRARY_DIR is not set: nothing to watch", code=2)
    setup_logging(settings.log_level)

    async def main() -> None:
        async with opened_engine(settings) as engine, schedule.stopping_on_signals() as stop:
            await schedule.run(engine, stop)

    run_async(main())


def status(
    asin: Annotated[
        str | None, typer.Argument(help="Show one release in detail.", parser=asin_arg)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON array of release records.")] = False,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only releases that failed or are retrying.")
    ] = False,
) -> None:
    """Show releases: stage, status, attempts and what went wrong."""
    settings = settings_or_exit()

    async def body(engine: Engine[Services]) -> None:
        found, damaged = await engine.store.read_many(await engine.store.asins())
        records = [r for r in found if not asin or r.asin == asin]
        damaged = [d for d in damaged if not asin or d.asin == asin]
        if asin and damaged:
            fail(f"{damaged[0].problem}. What to do: {damaged[0].hint}")
        if asin and not records:
            fail(f"no release with ASIN {asin}")
        if failed:
            records = [r for r in records if r.status in (Status.NEEDS_ATTENTION, Status.RETRYING)]
        if as_json:
            print(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
            render.damaged_records(err_console, damaged)  # not records: the caller reads stderr
        elif asin:
            progress = await engine.redis.hgetall(keys.progress(records[0].asin))  # type: ignore[misc]
            render.release_detail(console, records[0], progress)
        else:
            render.release_table(console, records, damaged=len(damaged))
            render.damaged_records(console, damaged)
            if not failed:
                await _seeding_duty(engine, records)

    with_engine(settings, body)


async def _seeding_duty(engine: Engine[Services], records: list[Release]) -> None:
    """The "Seeding duty" table: qBittorrent is asked (once) only when a release is marked
    uploaded, so `status` stays a Redis-only command for everyone else."""
    from mamfast.clients.qbit import QbitClient
    from mamfast.errors import MamfastError
    from mamfast.ops.seeding import seeding_duty

    uploaded = [r for r in records if r.mam_uploaded_at is not None]
    if not uploaded:
        return
    if not engine.settings.qbit_url:
        render.seeding_unknown(console, len(uploaded))
        return
    qbit = QbitClient.from_settings(engine.settings)
    try:
        duties = await seeding_duty(engine, qbit, releases=uploaded)
    except MamfastError as exc:
        render.seeding_unreadable(console, len(uploaded), exc)
        return
    finally:
        await qbit.close()
    render.seeding_duty(console, duties, uploaded=len(uploaded))


def retry(
    asin: Annotated[str | None, typer.Argument(help="Release to retry.", parser=asin_arg)] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Retry every release that needs attention.")
    ] = False,
) -> None:
    """Give a failed release a fresh attempt budget at the stage where it stopped."""
    from mamfast.engine import control

    if bool(asin) == all_failed:
        fail("give an ASIN or --all-failed", code=2)
    settings = settings_or_exit()

    async def body(engine: Engine[Services]) -> list[control.ActionResult]:
        if all_failed:
            return await control.retry_all_failed(engine)
        return [await control.retry(engine, asin or "")]

    results = with_engine(settings, body)
    _print_actions(results, empty="no release needs attention")


def reset(
    asin: Annotated[str, typer.Argument(help="Release to reset.", parser=asin_arg)],
    stage: Annotated[
        Stage, typer.Option(help="Stage to force; the stages after it run again too.")
    ],
    forget_torrent: Annotated[
        bool, typer.Option(help="Also forget the recorded torrent (a new infohash is allowed).")
    ] = False,
) -> None:
    """Force a stage (and every later one) to run again."""
    from mamfast.engine import control

    settings = settings_or_exit()
    result = with_engine(
        settings, lambda engine: control.reset(engine, asin, stage, forget_torrent=forget_torrent)
    )
    _print_actions([result])


def uploaded(
    asin: Annotated[str, typer.Argument(help="The release you uploaded to MAM.", parser=asin_arg)],
    undo: Annotated[
        bool, typer.Option("--undo", help="Take the mark back (it was not uploaded after all).")
    ] = False,
) -> None:
    """Record that you uploaded a finished release to MAM (shown by `status`, exported)."""
    from mamfast.engine import control

    settings = settings_or_exit()
    result = with_engine(
        settings, lambda engine: control.mark_uploaded(engine, asin, uploaded=not undo)
    )
    _print_actions([result])


def recover() -> None:
    """Re-enqueue releases whose job was lost or whose worker died (also runs in every worker)."""
    from mamfast.engine.reconcile import reconcile

    settings = settings_or_exit()

    async def body(engine: Engine[Services]) -> ReconcileReport:
        return await reconcile(engine, grace=0)

    report = with_engine(settings, body)
    if report.skipped:
        fail("another reconciler pass is running; try again in a few seconds")
    console.print(
        f"checked {report.checked} unfinished release(s): re-enqueued {len(report.enqueued)}, "
        f"re-dispatched {len(report.redispatched)}, waiting on {len(report.suspects)} "
        "(a job in progress without a lock: re-dispatched on the next pass if still so)"
    )
    for asin in report.enqueued + report.redispatched:
        console.print(f"  {asin}")
    if report.failed:
        fail(f"could not check {', '.join(report.failed)} (the reason is logged above)")


def list_locks() -> None:
    """List held locks with their holder and age."""
    from mamfast.engine import locks

    settings = settings_or_exit()
    held = with_engine(settings, lambda engine: locks.list_locks(engine.redis))
    render.locks_table(console, held)


def unlock(
    key: Annotated[str, typer.Argument(help="Lock key, e.g. mamfast:lock:scan")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Break a lock. Only do this when its holder is really gone."""
    from mamfast.engine import locks

    settings = settings_or_exit()
    full = key if key.startswith(keys.LOCK_PREFIX) else keys.LOCK_PREFIX + key

    async def holder(engine: Engine[Services]) -> dict[str, Any]:
        return await locks.read_holder(engine.redis, full)

    info = with_engine(settings, holder)
    if not info:
        fail(f"{full} is not held")
    console.print(f"{shown(full)} is held by {shown(locks.describe_holder(info))}")
    if not yes and not typer.confirm("Break it?", default=False):
        raise typer.Exit(1)
    removed = with_engine(settings, lambda engine: locks.break_lock(engine.redis, full))
    console.print(f"{full} {'released' if removed else 'was already gone'}", markup=False)


def health(
    queue: Annotated[
        str | None, typer.Option(help="Only a worker of this queue (default or hash).")
    ] = None,
) -> None:
    """Exit 0 when a worker on this host is alive (for container health checks)."""
    settings = settings_or_exit()
    from workers.health import host_has_live_worker

    alive = run_async(host_has_live_worker(settings, keys.QUEUES.get(queue or "", None)))
    raise typer.Exit(0 if alive else 1)


def state_export(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Dump every release record as JSON."""
    from mamfast.ops import statefile

    settings = settings_or_exit()
    data = with_engine(settings, statefile.export_state)
    text = json.dumps(data, indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"wrote {len(data['releases'])} release(s) to {output}", markup=False)


def state_import(
    file: Annotated[
        Path, typer.Argument(help="A mamfast export, or the old tool's processed.json.")
    ],
) -> None:
    """Create records from a state file; releases it marks complete are never processed again."""
    import asyncio

    from mamfast.ops import statefile

    settings = settings_or_exit()
    data = run_async(asyncio.to_thread(statefile.load_file, file))
    report = with_engine(settings, lambda engine: statefile.import_state(engine, data))
    for line in report.problems:
        console.print(f"[yellow]skipped:[/] {shown(line)}", highlight=False)
    for line in report.warnings:
        console.print(f"[yellow]warning:[/] {shown(line)}", highlight=False)
    skipped, warned = len(report.problems), len(report.warnings)
    console.print(
        f"imported {len(report.created)} release(s); {len(report.existing)} already known; "
        f"{skipped} entr{'y' if skipped == 1 else 'ies'} skipped; "
        f"{warned} warning{'' if warned == 1 else 's'}"
    )


def state_forget(
    asin: Annotated[str, typer.Argument(help="The damaged record's ASIN, as `status` shows it.")],
) -> None:
    """Drop a damaged release record (one `status` lists as damaged); the next scan rebuilds it."""
    from mamfast.engine import control

    settings = settings_or_exit()
    result = with_engine(settings, lambda engine: control.forget_damaged(engine, asin))
    _print_actions([result])


def _print_actions(results: list[control.ActionResult], *, empty: str = "nothing to do") -> None:
    if not results:
        console.print(empty)
    for result in results:
        style = "green" if result.ok else "red"
        console.print(f"[{style}]{shown(result.message)}[/]", highlight=False)
    if any(not r.ok for r in results):
        raise typer.Exit(1)
