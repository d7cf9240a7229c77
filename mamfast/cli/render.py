"""Rich output for the pipeline commands (tables and detail panels)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mamfast.cli.common import shown
from mamfast.display import hours, span
from mamfast.lifecycle import Status, utcnow

# Imported by every `mamfast` start (through the pipeline commands): tables, the
# record model (pydantic) and `locks` (redis) are imported by the functions that use them.
if TYPE_CHECKING:
    from rich.console import Console

    from mamfast.engine.store import DamagedRecord
    from mamfast.errors import MamfastError
    from mamfast.models import Release
    from mamfast.ops.enqueue import EnqueueReport
    from mamfast.ops.seeding import Duty

STATUS_STYLE = {
    Status.QUEUED: "cyan",
    Status.RUNNING: "blue",
    Status.RETRYING: "yellow",
    Status.COMPLETE: "green",
    Status.READY: "green",
    Status.NEEDS_ATTENTION: "bold red",
}


# `uploaded_at` is the upload stage's checkpoint (qBittorrent took the torrent), easily
# read as the user's own upload to MAM, which has its own row.
CHECKPOINT_LABEL = {"uploaded_at": "added to qBittorrent"}


def ago(when: datetime | None) -> str:
    if when is None:
        return "-"
    return f"{span((utcnow() - when).total_seconds())} ago"


def release_table(console: Console, records: list[Release], *, damaged: int = 0) -> None:
    if not records:
        if not damaged:
            console.print("no releases yet: run `mamfast enqueue`")
        return
    from rich.table import Table

    table = Table(show_lines=False, header_style="bold")
    for column in ("ASIN", "Title", "Stage", "Status", "Tries", "Updated", "On MAM", "Problem"):
        table.add_column(column, overflow="fold" if column == "Problem" else "ellipsis")
    for r in sorted(records, key=lambda r: r.updated_at, reverse=True):
        style = STATUS_STYLE[r.status]
        table.add_row(
            r.asin,
            shown((r.title or "?")[:40]),
            r.stage.value,
            f"[{style}]{r.status.value}[/]",
            str(sum(r.attempts.values())),
            ago(r.updated_at),
            _on_mam(r),
            shown((r.last_error or "")[:160]),
        )
    console.print(table)
    counts = Counter(r.status.value for r in records)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    marked = sum(r.mam_uploaded_at is not None for r in records)
    console.print(summary + (f"; {marked} marked uploaded to MAM" if marked else ""))


def _on_mam(r: Release) -> str:
    """The user's "uploaded to MAM" mark (`mamfast uploaded`), or "-" before it."""
    return f"uploaded {ago(r.mam_uploaded_at)}" if r.mam_uploaded_at else "-"


def damaged_records(console: Console, damaged: list[DamagedRecord]) -> None:
    """Records that cannot be read: named, with why and what to do (they are skipped)."""
    for bad in damaged:
        console.print(
            f"[bold red]{'damaged':<9}[/] {shown(bad.asin)}: {shown(bad.problem)}. "
            f"What to do: {shown(bad.hint)}",
            highlight=False,
        )


def release_detail(console: Console, r: Release, progress: dict[bytes, bytes]) -> None:
    from rich.table import Table

    who = r.author or "unknown author"
    console.print(f"[bold]{r.asin}[/]  {shown(r.title)}  ({shown(who)})", highlight=False)
    rows: list[tuple[str, Any]] = [
        ("stage", r.stage.value),
        ("status", f"[{STATUS_STYLE[r.status]}]{r.status.value}[/]"),
        ("job", r.job_id if not r.terminal else "-"),
        ("source", r.source_dir),
        ("staged folder", r.staging_dir),
        ("fast-fill JSON", r.json_path),
        ("description", r.description_path),
        ("torrent", r.torrent_path),
        ("infohash", r.infohash),
        ("attempts", ", ".join(f"{k} {v}" for k, v in r.attempts.items()) or "-"),
        ("updated", ago(r.updated_at)),
        ("uploaded to MAM", _uploaded_when(r)),
    ]
    for stage_field, when in r.checkpoints.model_dump().items():
        label = CHECKPOINT_LABEL.get(stage_field, stage_field.replace("_", " "))
        rows.append((label, when.isoformat(timespec="seconds") if when else "-"))
    if progress:
        done, total = int(progress.get(b"done", 0)), int(progress.get(b"total", 0) or 1)
        rows.append(
            ("progress", f"{progress.get(b'stage', b'').decode()} {100 * done / total:.0f}%")
        )
    table = Table.grid(padding=(0, 2))
    rows[1] = ("status", r.status.value)  # plain: every value cell is escaped below
    for name, value in rows:
        table.add_row(f"[dim]{name}[/]", "-" if value is None else shown(str(value)))
    console.print(table)
    if r.last_error:
        problem = f"({r.error_type}): {r.last_error}"
        console.print(f"\n[bold red]Problem[/] {shown(problem)}", highlight=False)
    if r.next_attempt_at and r.status is Status.RETRYING:
        console.print(f"next attempt at {r.next_attempt_at.isoformat(timespec='seconds')}")
    for title, items in (("Warnings", r.warnings), ("Review before upload", r.review)):
        if items:
            console.print(f"\n[bold]{title}[/]")
            for item in items:
                console.print(f"  - {shown(item)}", highlight=False)


def _uploaded_when(r: Release) -> str:
    if r.mam_uploaded_at is None:
        return "no (`mamfast uploaded ASIN` once you have)"
    return f"{r.mam_uploaded_at.isoformat(timespec='seconds')} ({ago(r.mam_uploaded_at)})"


def seeding_duty(console: Console, duties: list[Duty], *, uploaded: int) -> None:
    """Uploaded releases that have not seeded 72 h yet: keep these seeding."""
    if not duties:
        console.print(f"\n[bold]Seeding duty[/]: all {uploaded} uploaded release(s) met it")
        return
    from rich.table import Table

    from mamfast.ops.seeding import RULE

    console.print(f"\n[bold]Seeding duty[/] ({RULE}; keep these seeding)")
    table = Table(header_style="bold")
    for column in ("ASIN", "Title", "Uploaded", "Seeded", "Left", "Deadline", "Ratio", "State"):
        table.add_column(column, overflow="ellipsis")
    for d in duties:
        state = shown(d.state)
        if d.infohash is None:
            state = "[yellow]no infohash recorded[/]"
        elif d.missing:
            state = "[bold red]missing from qBittorrent[/]"
        deadline = f"{d.deadline:%Y-%m-%d %H:%M}" + (" [bold red](missed)[/]" if d.missed else "")
        table.add_row(
            d.asin,
            shown((d.title or "?")[:40]),
            ago(d.uploaded_at),
            hours(d.seeding_time),
            hours(d.remaining, up=True),
            deadline,
            "-" if d.ratio is None else f"{d.ratio:.2f}",
            state,
        )
    console.print(table)
    console.print(
        "[dim]Seeded counts only time after the upload to MAM: qBittorrent's seeding time "
        "less the time it seeded before you marked it uploaded[/]"
    )


def seeding_unknown(console: Console, uploaded: int) -> None:
    from mamfast.ops.seeding import RULE

    console.print(
        f"\n[bold]Seeding duty[/]: {uploaded} release(s) marked uploaded, but no qBittorrent "
        f"is configured (MAMFAST_QBIT_URL), so their seeding time is unknown; {RULE}"
    )


def seeding_unreadable(console: Console, uploaded: int, exc: MamfastError) -> None:
    console.print(
        f"\n[bold]Seeding duty[/]: {uploaded} release(s) marked uploaded; "
        f"[yellow]could not ask qBittorrent[/]: {shown(exc)}",
        highlight=False,
    )


def enqueue_report(console: Console, report: EnqueueReport) -> None:
    found = report.discovery
    for entry in report.releases:
        colour = "green" if entry.outcome in ("new", "would-enqueue") else "dim"
        colour = "red" if entry.problem else colour
        line = f"{entry.asin}  {entry.title}" + (f": {entry.problem}" if entry.problem else "")
        console.print(f"[{colour}]{entry.outcome:<22}[/] {shown(line)}", highlight=False)
    for reject in found.rejects:
        line = f"{reject.path}: {reject.reason}"
        console.print(f"[red]{'rejected':<22}[/] {shown(line)}", highlight=False)
    for dup in found.duplicates:
        line = f"{dup.asin}: {', '.join(map(str, dup.paths))}"
        console.print(f"[red]{'duplicate ASIN':<22}[/] {shown(line)}", highlight=False)
    for settling in found.settling:
        line = f"{settling.path} (changed recently; ready in {settling.ready_in_seconds:.0f}s)"
        console.print(f"[yellow]{'settling':<22}[/] {shown(line)}", highlight=False)
    new = report.new + sum(r.outcome == "would-enqueue" for r in report.releases)
    console.print(
        f"{new} new, {len(report.releases) - new} already known, "
        f"{len(found.rejects)} rejected, {len(found.duplicates)} duplicate ASIN(s), "
        f"{len(found.settling)} settling"
    )


def locks_table(console: Console, held: list[dict[str, Any]]) -> None:
    if not held:
        console.print("no locks held")
        return
    from rich.table import Table

    from mamfast.engine.locks import describe_holder

    table = Table(header_style="bold")
    for column in ("Key", "Holder", "TTL left"):
        table.add_column(column)
    for info in held:
        ttl = info.get("ttl")
        row = (str(info["key"]), describe_holder(info), f"{ttl}s" if ttl else "-")
        table.add_row(*(shown(cell) for cell in row))
    console.print(table)
