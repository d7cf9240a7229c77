"""What the dashboard shows of a release: one row per release, the filters, the timeline.

Pure functions of the record (and its live progress), shared by the pages and the
server-sent events so a row looks the same however it arrived. Every string here is
data: the templates escape it, and the browser sets it as text, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mamfast.display import span
from mamfast.models import CHECKPOINT_FIELD, STAGE_ORDER, Release, Stage, Status, utcnow

MAM_UPLOAD_PAGE = "https://www.myanonamouse.net/tor/upload.php"

VIEWS = ("ready", "all", "active", "failed", "uploaded")
VIEW_LABELS = {
    "ready": "Ready to upload",
    "all": "All",
    "active": "In progress",
    "failed": "Needs attention",
    "uploaded": "Uploaded",
}
STATUS_LABELS = {
    Status.QUEUED: "queued",
    Status.RUNNING: "running",
    Status.RETRYING: "retrying",
    Status.COMPLETE: "seeding",
    Status.READY: "ready",
    Status.NEEDS_ATTENTION: "needs attention",
}


@dataclass(frozen=True)
class Filters:
    """The list's view, stage, status and search, from the page's query string."""

    view: str = "ready"
    stage: str = ""
    status: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, query: Any) -> Filters:
        view = str(query.get("view", "ready"))
        stage = str(query.get("stage", ""))
        status = str(query.get("status", ""))
        return cls(
            view=view if view in VIEWS else "ready",
            stage=stage if stage in {s.value for s in Stage} else "",
            status=status if status in {s.value for s in Status} else "",
            q=str(query.get("q", ""))[:200].strip(),
        )

    def matches(self, release: Release) -> bool:
        if not _in_view(self.view, release):
            return False
        if self.stage and release.stage.value != self.stage:
            return False
        if self.status and release.status.value != self.status:
            return False
        if self.q:
            needle = self.q.casefold()
            haystack = " ".join((release.title, release.author, release.asin)).casefold()
            return needle in haystack
        return True


def ready_to_upload(release: Release) -> bool:
    """Finished (torrent, JSON and description made) and not yet marked uploaded."""
    return (
        release.stage is Stage.DONE
        and release.status in (Status.COMPLETE, Status.READY)
        and release.mam_uploaded_at is None
    )


def failed(release: Release) -> bool:
    return release.status in (Status.NEEDS_ATTENTION, Status.RETRYING)


def _in_view(view: str, release: Release) -> bool:
    if view == "ready":
        return ready_to_upload(release)
    if view == "active":
        return not release.terminal
    if view == "failed":
        return failed(release)
    if view == "uploaded":
        return release.mam_uploaded_at is not None
    return True


def age(when: datetime | None, now: datetime | None = None) -> str:
    """`<1m`, `5m`, `3h`, `2d`: minutes at the finest, so a live row changes once a minute."""
    if when is None:
        return "-"
    seconds = ((now or utcnow()) - when).total_seconds()
    return "<1m" if seconds < 60 else span(seconds)


def progress_text(progress: dict[bytes, bytes] | None, release: Release) -> str:
    """`hashing 42% (420 of 1,000 MB)` while a stage reports progress, else empty."""
    if not progress or release.status is not Status.RUNNING:
        return ""
    stage = progress.get(b"stage", b"").decode(errors="replace")
    if stage != release.stage.value:
        return ""
    done, total = int(progress.get(b"done", 0)), int(progress.get(b"total", 0))
    if total <= 0:
        return ""
    verb = "hashing" if stage == Stage.TORRENT.value else stage
    return f"{verb} {100 * done // total}% ({done / 1e6:,.0f} of {total / 1e6:,.0f} MB)"


def what_to_do(release: Release, max_attempts: int) -> str:
    """The next step for the person reading, in plain words."""
    if release.status is Status.NEEDS_ATTENTION:
        return "Fix what the error says, then press Retry (or run `mamfast retry ASIN`)."
    if release.status is Status.RETRYING:
        spent = release.attempts.get(release.stage.value, 0)
        when = release.next_attempt_at
        at = f" at {when:%H:%M:%S} UTC" if when else ""
        return (
            f"Nothing yet: mamfast tries again by itself{at} (attempt {spent} of {max_attempts})."
        )
    if ready_to_upload(release):
        return "Upload it on MAM with the JSON and the .torrent, then mark it uploaded."
    if release.mam_uploaded_at is not None:
        return f"Uploaded to MAM {_when(release.mam_uploaded_at)}: keep it seeding."
    return ""


def row(release: Release, progress: dict[bytes, bytes] | None, max_attempts: int) -> dict[str, Any]:
    """One release as the list shows it (also the payload of its live event)."""
    return {
        "asin": release.asin,
        "title": release.title or release.book.title or release.asin,
        "author": release.author,
        "stage": release.stage.value,
        "status": release.status.value,
        "status_label": STATUS_LABELS[release.status],
        "progress": progress_text(progress, release),
        "age": age(release.created_at),
        "attempts": sum(release.attempts.values()),
        "error": release.last_error or "",
        "error_type": release.error_type or "",
        "what_to_do": what_to_do(release, max_attempts),
        "ready": ready_to_upload(release),
        "failed": failed(release),
        "uploaded": release.mam_uploaded_at is not None,
        "uploaded_at": _when(release.mam_uploaded_at),
        "has_files": bool(release.json_path and release.description_path),
        "has_torrent": bool(release.torrent_path),
    }


def counts(records: list[Release]) -> dict[str, int]:
    """How many releases each view holds (the tabs' numbers)."""
    return {view: sum(1 for r in records if _in_view(view, r)) for view in VIEWS}


@dataclass(frozen=True)
class Step:
    name: str
    at: str  # empty: not reached
    current: bool


def timeline(release: Release) -> list[Step]:
    """Each stage's checkpoint, then the user's own upload to MAM."""
    steps = [
        Step(
            stage.value,
            _when(getattr(release.checkpoints, CHECKPOINT_FIELD[stage])),
            release.stage is stage,
        )
        for stage in STAGE_ORDER
    ]
    steps.append(Step("uploaded to MAM", _when(release.mam_uploaded_at), False))
    return steps


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value else ""
