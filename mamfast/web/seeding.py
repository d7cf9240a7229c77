"""The seeding-duty panel: MAM's 72 hours within 30 days, for releases marked uploaded.

qBittorrent is asked (one request, `ops.seeding.seeding_duty`) at most once per
`READ_EVERY` seconds however many pages ask, and again at once when the set of
uploaded releases changes (a release marked or unmarked), never per event tick:
the event streams do not read this panel. Whatever goes wrong asking qBittorrent
is kept and shown in plain words for the same time, so a page never fails for it
and a qBittorrent that is down is not asked again on every page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mamfast.clients.qbit import QbitClient
from mamfast.display import hours, printable, span
from mamfast.engine.engine import Engine
from mamfast.errors import MamfastError
from mamfast.models import Release, utcnow
from mamfast.ops.seeding import Duty, seeding_duty

log = logging.getLogger(__name__)

READ_EVERY = 30.0  # seconds between questions to qBittorrent
QBIT_WAIT = 10.0  # a page waits no longer for qBittorrent's answer
NOT_CONFIGURED = (
    "no qBittorrent configured (MAMFAST_QBIT_URL is not set), so the seeding time of "
    "releases marked uploaded is unknown"
)

Uploaded = tuple[tuple[str, str], ...]  # (ASIN, when marked) of every uploaded release


@dataclass(frozen=True)
class Seeding:
    """What the panel shows: one row per uploaded release, or why there are none."""

    uploaded: int = 0  # releases marked uploaded
    configured: bool = True  # a qBittorrent is set (MAMFAST_QBIT_URL)
    problem: str = ""  # why qBittorrent could not be asked, with what to do
    rows: list[dict[str, Any]] = field(default_factory=list)  # soonest deadline first
    read: str = ""  # how long ago qBittorrent was asked

    @property
    def owed(self) -> list[dict[str, Any]]:
        """The rows still short of the 72 hours."""
        return [r for r in self.rows if not r["met"]]

    def of(self, asin: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["asin"] == asin), None)


class SeedingPanel:
    """Reads the duty of every uploaded release, at most once per `read_every` seconds."""

    def __init__(
        self, engine: Engine[Any], qbit: QbitClient | None, *, read_every: float = READ_EVERY
    ) -> None:
        self._engine = engine
        self._qbit = qbit
        self.read_every = read_every
        self._last: tuple[Uploaded, float, list[Duty], str] | None = None
        self._lock = asyncio.Lock()

    async def current(self, records: Iterable[Release]) -> Seeding:
        uploaded = [r for r in records if r.mam_uploaded_at is not None]
        if not uploaded:
            return Seeding()
        if self._qbit is None:
            return Seeding(uploaded=len(uploaded), configured=False)
        marks: Uploaded = tuple(sorted((r.asin, str(r.mam_uploaded_at)) for r in uploaded))
        async with self._lock:
            last = self._last
            if last is None or last[0] != marks or _since(last[1]) > self.read_every:
                duties, problem = await self._read(self._qbit, uploaded)
                last = self._last = (marks, time.monotonic(), duties, problem)
        _, read_at, duties, problem = last
        return Seeding(
            uploaded=len(uploaded),
            problem=problem,
            rows=[duty_row(d) for d in duties],
            read=span(_since(read_at)),
        )

    async def _read(self, qbit: QbitClient, uploaded: list[Release]) -> tuple[list[Duty], str]:
        try:
            async with asyncio.timeout(QBIT_WAIT):
                duties = await seeding_duty(self._engine, qbit, include_met=True, releases=uploaded)
        except MamfastError as exc:
            return [], (f"{exc.message}. What to do: {exc.hint}" if exc.hint else exc.message)
        except TimeoutError:
            return [], (
                f"qBittorrent did not answer within {QBIT_WAIT:.0f} seconds. What to do: "
                "check that it is running and not overloaded; this panel asks again shortly"
            )
        except Exception as exc:
            log.warning("seeding duty: unexpected %s from qBittorrent", type(exc).__name__)
            return [], (
                f"qBittorrent's answer could not be read ({type(exc).__name__}). What to do: "
                "check qBittorrent's version (`mamfast doctor`) and its log"
            )
        return duties, ""


def duty_row(duty: Duty) -> dict[str, Any]:
    """One release's duty in words and figures (the templates escape every string)."""
    if duty.infohash is None:
        state = "no infohash recorded, so qBittorrent cannot be asked about it"
    elif duty.missing:
        state = "missing from qBittorrent: it is not seeding (add its .torrent again)"
    else:
        state = printable(duty.state or "")
    return {
        "asin": duty.asin,
        "title": printable(duty.title) or duty.asin,
        "uploaded": span((utcnow() - duty.uploaded_at).total_seconds()) + " ago",
        "seeded": hours(duty.seeding_time),
        "left": hours(duty.remaining, up=True),
        "deadline": f"{duty.deadline:%Y-%m-%d %H:%M} UTC",
        "ratio": "-" if duty.ratio is None else f"{duty.ratio:.2f}",
        "state": state,
        "met": duty.met,
        "missed": duty.missed,
        "missing": duty.missing or duty.infohash is None,
    }


def _since(monotonic: float) -> float:
    return time.monotonic() - monotonic
