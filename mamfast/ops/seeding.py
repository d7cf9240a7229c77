"""Seeding duty: MAM asks that every torrent be seeded 72 hours within 30 days of upload.

For each release the user marked uploaded (`Release.mam_uploaded_at`), qBittorrent's
figures for its torrent, read in one request for all of them, say how much of the duty
is done, how much is left and by when, so a torrent is never removed or stopped early.

qBittorrent counts `seeding_time` from when the torrent completed in the client, which
for mamfast is when the upload stage added it, usually before the user uploaded it to
MAM; MAM counts only seeding after that. The time before the upload cannot be told
apart afterwards, so it is taken out whole: the seeding time credited is qBittorrent's
minus the time between completion and the MAM upload (never below zero). That is exact
for a torrent that seeded without a pause, and too little (never too much) for one that
was stopped before the upload: the duty can only look less done than it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from mamfast.clients.qbit import QbitClient, TorrentView
from mamfast.engine.engine import Engine
from mamfast.models import Release, utcnow

SEED_HOURS = 72
WINDOW_DAYS = 30
REQUIRED = timedelta(hours=SEED_HOURS)
WINDOW = timedelta(days=WINDOW_DAYS)
RULE = f"MAM asks for {SEED_HOURS} h of seeding within {WINDOW_DAYS} days of upload"


class Duty(BaseModel):
    """One uploaded release's seeding duty."""

    model_config = ConfigDict(frozen=True)

    asin: str
    title: str
    infohash: str | None  # None: none recorded (a record imported from the old tool)
    uploaded_at: datetime  # when the user marked it uploaded to MAM
    deadline: datetime  # uploaded_at + 30 days
    seeding_time: timedelta  # credited since the MAM upload (see the module's note)
    client_seeding_time: timedelta | None  # qBittorrent's own figure; None: not in the client
    ratio: float | None
    state: str | None  # qBittorrent's state name; None: not found there (or no infohash)
    met: bool
    remaining: timedelta  # seeding still owed (zero once met)
    missed: bool  # the seeding owed no longer fits before the deadline

    @property
    def missing(self) -> bool:
        """The torrent is not in qBittorrent (removed, or never added)."""
        return self.state is None and self.infohash is not None


async def seeding_duty(
    engine: Engine[Any],
    qbit: QbitClient,
    *,
    include_met: bool = False,
    releases: Iterable[Release] | None = None,
) -> list[Duty]:
    """The duty of every release marked uploaded (or of `releases`), soonest deadline
    first; those that met it only with `include_met`. One qBittorrent request."""
    if releases is None:
        releases = await engine.store.all()
    uploaded = [r for r in releases if r.mam_uploaded_at is not None]
    views = await qbit.many([r.infohash for r in uploaded if r.infohash])
    now = utcnow()
    duties = [duty_of(r, views.get((r.infohash or "").lower()), now) for r in uploaded]
    return sorted(
        (d for d in duties if include_met or not d.met), key=lambda d: (d.deadline, d.asin)
    )


def duty_of(release: Release, view: TorrentView | None, now: datetime) -> Duty:
    """The duty of one uploaded release, from its torrent as qBittorrent lists it."""
    uploaded_at = release.mam_uploaded_at
    assert uploaded_at is not None, "only an uploaded release has a seeding duty"
    credited = _credited(view, uploaded_at, now)
    remaining = max(timedelta(0), REQUIRED - credited)
    deadline = uploaded_at + WINDOW
    return Duty(
        asin=release.asin,
        title=release.title,
        infohash=release.infohash,
        uploaded_at=uploaded_at,
        deadline=deadline,
        seeding_time=credited,
        client_seeding_time=timedelta(seconds=view.seeding_time) if view else None,
        ratio=view.ratio if view else None,
        state=view.state if view else None,
        met=credited >= REQUIRED,
        remaining=remaining,
        missed=remaining > max(timedelta(0), deadline - now),
    )


def _credited(view: TorrentView | None, uploaded_at: datetime, now: datetime) -> timedelta:
    """Seeding time since the MAM upload, never more than it can have been."""
    if view is None:
        return timedelta(0)
    seeded = timedelta(seconds=max(0, view.seeding_time))
    since = view.completion_on if view.completion_on > 0 else view.added_on
    before = uploaded_at - datetime.fromtimestamp(since, UTC) if since > 0 else seeded
    credited = seeded - max(timedelta(0), before)
    return min(max(timedelta(0), credited), max(timedelta(0), now - uploaded_at))
