"""Everything the metadata stage makes for one book folder, in one call.

Shared by the stage (queue, Redis-backed Audnex client) and `mamfast mamjson`
(no queue). Steps: MediaInfo and Audnex at the same time, merge and clean
(`bookdata`), choose categories, render the description, build the fast-fill
JSON, review it. Writing the files is separate (`write_outputs`), so the CLI
can print instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from mamfast.clients.audnex import AudnexClient, AudnexNotFoundError, Found
from mamfast.clients.mediainfo import Probe, probe
from mamfast.config import Settings
from mamfast.errors import AudnexUnavailableError, InputError
from mamfast.fs.atomic import write_atomic
from mamfast.fs.containment import in_torrent_dir
from mamfast.fs.owner import file_owner
from mamfast.library.selection import book_audio
from mamfast.models import BookInfo
from mamfast.release import bookdata, categories, description, mamjson
from mamfast.release.review import Review, review
from mamfast.release.rules import ReleaseRules

log = logging.getLogger(__name__)
T = TypeVar("T")
COVER_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass
class Prepared:
    facts: bookdata.BookFacts
    probe: Probe
    choice: categories.CategoryChoice
    fastfill: mamjson.FastFill
    description: str
    review: Review
    audnex_problem: str | None = None  # why Audnex could not help (None: it did)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return [f"audnex: missing ({self.audnex_problem})"] if self.audnex_problem else []

    @property
    def summary(self) -> dict[str, object]:
        """What the release record keeps in details["metadata"]."""
        info = self.probe.info
        return {
            "source": self.facts.source,
            "audnex_region": self.facts.audnex_region,
            "duration_s": info.duration_s,
            "codec": info.codec_label,
            "container": info.container,
            "files": len(info.files),
            "chapters": len(self.facts.chapters),
            "chapters_source": self.facts.chapters_source,
            "mediainfo_backend": self.probe.backend,
            "categories": self.choice.categories,
            "category": self.choice.category,
            "review_blocking": len(self.review.blocking),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


async def prepare(
    folder: Path,
    asin: str,
    book: BookInfo,
    settings: Settings,
    audnex: AudnexClient | None,
    rules: ReleaseRules,
) -> Prepared:
    """Everything for one book folder; `rules` are loaded once by the worker or command."""
    files = await asyncio.to_thread(_book_files, folder, settings)
    if not files:
        raise InputError(
            f"no audio files (.m4b/.m4a/.mp3) in {folder}",
            hint="check the release folder; `mamfast reset ASIN --stage stage` stages it again",
        )
    timings: dict[str, float] = {}
    started = time.monotonic()
    mediainfo = asyncio.create_task(_timed(probe(files, settings), "mediainfo", timings))
    try:
        found, problem = await _timed(
            lookup_audnex(audnex, asin, required=settings.audnex_required), "audnex", timings
        )
        probed = await mediainfo
    finally:
        if not mediainfo.done():  # Audnex failed: stop MediaInfo (run_child kills the child)
            mediainfo.cancel()
            await asyncio.gather(mediainfo, return_exceptions=True)
    facts = bookdata.build(asin, found, book, probed.info, rules.naming)
    cats = rules.categories
    choice = categories.choose(facts.genres, facts.genre_tags, facts.literature_type, cats)
    text = description.render(
        facts,
        probed.info,
        template=rules.template,
        signature=settings.description_signature,
        signature_text=settings.description_signature_text,
        categories=categories.category_names(choice.categories, cats),
    )
    fastfill = mamjson.build(
        facts, probed.info, choice, description=text, media_info=probed.document_json
    )
    checklist = review(
        fastfill,
        facts,
        probed.info,
        cover_file=await asyncio.to_thread(_cover, folder),
        audnex_problem=problem,
    )
    timings["total"] = time.monotonic() - started
    return Prepared(facts, probed, choice, fastfill, text, checklist, problem, timings)


async def lookup_audnex(
    client: AudnexClient | None, asin: str, *, required: bool
) -> tuple[Found | None, str | None]:
    """(record, None), or (None, why not) when we may go on with Libation's metadata.

    With MAMFAST_AUDNEX_REQUIRED=true "Audnex cannot help" is a retry-later.
    A garbage answer (MetadataError) always propagates: it is an error on the release.
    """
    if client is None:
        problem = "skipped: --no-audnex"
    else:
        try:
            return await client.lookup(asin), None
        except AudnexNotFoundError as exc:
            problem = exc.short
        except AudnexUnavailableError as exc:
            if required:
                raise
            problem = f"unavailable: {exc.message}"
    if required:
        raise AudnexUnavailableError(
            f"Audnex has no record for {asin} ({problem})",
            hint="MAMFAST_AUDNEX_REQUIRED is true, so this waits for Audnex; set it to false "
            "to go on with Libation's metadata, or check MAMFAST_AUDNEX_REGIONS",
        )
    log.info("%s: going on without Audnex (%s)", asin, problem)
    return None, problem


def output_paths(settings: Settings, folder: Path) -> tuple[Path, Path]:
    """TORRENT_DIR/<folder>/<folder>.json and .bbcode.txt, beside the torrent (proven there)."""
    base = settings.torrent_folder / folder.name
    return (
        in_torrent_dir(settings, base / f"{folder.name}.json"),
        in_torrent_dir(settings, base / f"{folder.name}.bbcode.txt"),
    )


def write_outputs(
    prepared: Prepared, json_path: Path, description_path: Path, settings: Settings
) -> None:
    """Both files atomically (blocking: run it in a thread)."""
    owner = file_owner(settings)
    write_atomic(json_path, prepared.fastfill.to_json(), owner=owner)
    write_atomic(description_path, prepared.description + "\n", owner=owner)


def _book_files(path: Path, settings: Settings) -> list[Path]:
    # The files discovery chose (one format, reading order), for a staged folder or
    # one named to `mamfast mamjson`.
    return book_audio(path, settings.allowed_extensions) if path.is_dir() else [path]


def _cover(folder: Path) -> str | None:
    if not folder.is_dir():
        return None
    images = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in COVER_SUFFIXES)
    return images[0] if images else None


async def _timed(work: Awaitable[T], name: str, timings: dict[str, float]) -> T:
    started = time.monotonic()
    try:
        return await work
    finally:
        timings[name] = time.monotonic() - started
