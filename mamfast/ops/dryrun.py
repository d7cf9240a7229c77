"""The whole pipeline's plan, writing nothing (`mamfast run --dry-run`, `mamfast dry-run`).

For every book folder in the library: what the run would do with it (process it, leave
it because it is done or under way, or refuse it and why), the folder and file names it
would be staged under, and the torrent it would get (size, piece length as the torrent
stage chooses it, piece count). It reads the library, the scan cache and the release
records; it creates no record, takes no lock, queues no job, writes no scan cache and
touches no file. The Libation command is not run (it would download into the library).
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from mamfast.config import Settings
from mamfast.engine.store import DamagedRecord
from mamfast.errors import ConfigError, MamfastError
from mamfast.library.discovery import discover
from mamfast.library.report import DiscoveryReport
from mamfast.models import Release, Status
from mamfast.ops.embedded import embedded_server
from mamfast.release.naming.rules import NamingRules
from mamfast.release.rules import load_release_rules
from mamfast.stages.staging import plan_release
from mamfast.stages.torrent import torrent_file
from mamfast.torrents.pieces import choose_piece_exp

Outcome = Literal["would-process", "done", "in-progress", "needs-attention", "refused", "damaged"]


class PlannedFile(BaseModel):
    source: str
    name: str  # its name in the staged folder
    size: int


class PlannedRelease(BaseModel):
    asin: str
    title: str
    source_dir: str
    outcome: Outcome
    reason: str | None = None  # why it is refused, done, under way or damaged
    folder: str | None = None
    files: list[PlannedFile] = Field(default_factory=list)
    longest_path: int | None = None
    path_limit: int | None = None
    dropped: list[str] = Field(default_factory=list)  # name parts left out to fit the limit
    truncated: bool = False
    torrent_path: str | None = None
    size: int = 0
    piece_length: int | None = None
    pieces: int | None = None
    warnings: list[str] = Field(default_factory=list)


class DryRunReport(BaseModel):
    releases: list[PlannedRelease] = Field(default_factory=list)
    discovery: DiscoveryReport
    notes: list[str] = Field(default_factory=list)  # what applies to every release

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome == outcome for r in self.releases)


# The store's batch read (`ReleaseStore.read_many`): one round trip for the whole library.
RecordLookup = Callable[[Sequence[str]], Awaitable[tuple[list[Release], list[DamagedRecord]]]]


def never_ran(settings: Settings) -> bool:
    """No Redis of one's own and no private Redis ever started here: there are no records,
    so a dry run needs no Redis at all (and starting one would write its files)."""
    return settings.redis_url is None and not embedded_server(settings).home.exists()


async def plan(
    settings: Settings, records: RecordLookup | None, paths: list[Path] | None = None
) -> DryRunReport:
    """The plan for the library (or `paths`), from the records as they are now
    (`records=None`: there are none)."""
    if not paths and (settings.library_dir is None or not settings.library_dir.is_dir()):
        raise ConfigError(
            f"MAMFAST_LIBRARY_DIR {settings.library_dir} does not exist or is not a folder",
            hint="check the path and that its disk or volume is mounted",
        )
    rules = await asyncio.to_thread(load_release_rules, settings)
    found = await asyncio.to_thread(discover, settings, paths, save_cache=False)
    report = DryRunReport(discovery=found, notes=_notes(settings))
    known, damaged = await records([c.asin for c in found.releases]) if records else ([], [])
    recorded = {r.asin: r for r in known}
    unreadable = {d.asin: d for d in damaged}
    for candidate in found.releases:
        release = candidate.to_release()
        if bad := unreadable.get(release.asin):
            report.releases.append(_entry(release, "damaged", f"{bad.problem} ({bad.hint})"))
            continue
        if (existing := recorded.get(release.asin)) is not None:
            report.releases.append(_recorded(release, existing))
            continue
        report.releases.append(await asyncio.to_thread(_planned, settings, release, rules.naming))
    return report


def _notes(settings: Settings) -> list[str]:
    notes = []
    if not settings.secret("announce_url"):
        notes.append(
            "MAMFAST_ANNOUNCE_URL is not set: torrents would carry no announce URL; set it "
            "from MAM's upload page"
        )
    if not settings.qbit_url:
        notes.append("MAMFAST_QBIT_URL is not set: releases would stop at `ready` (not seeded)")
    if settings.libation_command.strip():
        notes.append("MAMFAST_LIBATION_COMMAND is not run by a dry run (it writes the library)")
    return notes


def _entry(release: Release, outcome: Outcome, reason: str | None = None) -> PlannedRelease:
    return PlannedRelease(
        asin=release.asin,
        title=release.title,
        source_dir=release.source_dir or "",
        outcome=outcome,
        reason=reason,
        warnings=list(release.warnings),
    )


def _recorded(release: Release, existing: Release) -> PlannedRelease:
    """A book with a record: the run leaves it, or carries on where it stands."""
    folder = Path(existing.staging_dir).name if existing.staging_dir else None
    if existing.status in (Status.COMPLETE, Status.READY):
        entry = _entry(release, "done", f"already {existing.status}")
    elif existing.status is Status.NEEDS_ATTENTION:
        reason = existing.last_error or "stopped"
        entry = _entry(
            release,
            "needs-attention",
            f"{reason} (after fixing it: `mamfast retry {existing.asin}`)",
        )
    else:
        entry = _entry(
            release, "in-progress", f"at stage {existing.stage} ({existing.status}): carried on"
        )
    entry.folder = folder
    entry.torrent_path = existing.torrent_path
    return entry


def _planned(settings: Settings, release: Release, rules: NamingRules) -> PlannedRelease:
    """A new book: what staging and the torrent stage would make of it. Blocking."""
    try:
        source, _selection, naming = plan_release(settings, release, rules)
        files = [
            PlannedFile(source=name, name=target, size=(source / name).stat().st_size)
            for name, target in naming.files.items()
        ]
    except MamfastError as exc:
        return _entry(release, "refused", str(exc))
    except OSError as exc:
        return _entry(release, "refused", f"cannot read {release.source_dir}: {exc}")
    entry = _entry(release, "would-process")
    entry.folder = naming.folder
    entry.files = sorted(files, key=lambda f: f.name)
    entry.longest_path, entry.path_limit = naming.longest, naming.limit
    entry.dropped, entry.truncated = list(naming.dropped), naming.truncated
    entry.torrent_path = str(torrent_file(settings, naming.folder))
    entry.size = sum(f.size for f in files)
    try:
        exp = choose_piece_exp(
            entry.size,
            fixed=settings.torrent_piece_length,
            max_exp=settings.torrent_max_piece_length,
        )
    except ConfigError as exc:
        return _entry(release, "refused", str(exc))
    entry.piece_length = 1 << exp
    entry.pieces = max(1, math.ceil(entry.size / entry.piece_length))
    target = settings.seed_folder / naming.folder
    if os.path.lexists(target):
        entry.warnings.append(
            f"{target} already exists: staging checks it holds the same files (reused) or "
            "stops for you to look"
        )
    return entry
