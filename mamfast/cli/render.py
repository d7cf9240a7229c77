"""Rich output for the pipeline commands (tables and detail panels)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mamfast.cli.common import shown
from mamfast.lifecycle import Status, utcnow

# Imported by every `mamfast` start (through the pipeline commands): tables, the
# record model (pydantic) and `locks` (redis) are imported by the functions that use them.
if TYPE_CHECKING:
    from rich.console import Console

    from mamfast.engine.store import DamagedRecord
    from mamfast.models import Release
    from mamfast.ops.enqueue import EnqueueReport

STATUS_STYLE = {
    Status.QUEUED: "cyan",
    Status.RUNNING: "blue",
    Status.RETRYING: "yellow",
    Status.COMPLETE: "green",
    Status.READY: "green",
    Status.NEEDS_ATTENTION: "bold red",
}


def ago(when: datetime | None) -> str:
    if when is None:
        return "-"
    seconds = max(0, int((utcnow() - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def release_table(console: Console, records: list[Release], *, damaged: int = 0) -> None:
    if not records:
        if not damaged:
            console.print("no releases yet: run `mamfast enqueue`")
        return
    from rich.table import Table

    table = Table(show_lines=False, header_style="bold")
    for column in ("ASIN", "Title", "Stage", "Status", "Tries", "Updated", "Problem"):
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
            shown((r.last_error or "")[:160]),
        )
    console.print(table)
    counts = Counter(r.status.value for r in records)
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


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
    ]
    for stage_field, when in r.checkpoints.model_dump().items():
        rows.append(
            (stage_field.replace("_", " "), when.isoformat(timespec="seconds") if when else "-")
        )
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
