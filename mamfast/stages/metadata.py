"""The metadata stage: fast-fill JSON and BBCode description beside the torrent.

Input: the staged folder (`release.staging_dir`), the ASIN, and what discovery
read from Libation (`release.book`, the fallback when Audnex cannot help).
Output: TORRENT_DIR/<folder>/<folder>.json and <folder>.bbcode.txt, written
atomically; their paths, the review checklist and a summary in the record.

Idempotent: a re-run rebuilds both files from the same inputs (Audnex answers
come from the shared cache) and replaces them atomically.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from mamfast.models import Release, StageOutput, StageResult
from mamfast.release.prepare import output_paths, prepare, write_outputs
from mamfast.stages.services import Services
from mamfast.stages.staging import staged_folder

log = logging.getLogger(__name__)
STEPS = 3


async def run(services: Services, release: Release) -> StageResult:
    # Paths are checked on disk (resolved, proven inside our folders): never on the event loop.
    folder, (json_path, description_path) = await asyncio.to_thread(_paths, services, release)
    await services.report_progress(release.asin, "metadata", 0, STEPS)
    prepared = await prepare(
        folder, release.asin, release.book, services.settings, services.audnex, services.rules
    )
    await services.report_progress(release.asin, "metadata", 2, STEPS)
    await asyncio.to_thread(write_outputs, prepared, json_path, description_path, services.settings)
    await services.report_progress(release.asin, "metadata", STEPS, STEPS)
    log.info(
        "%s: metadata from %s, %d review note(s), %.2fs",
        release.asin,
        prepared.facts.source,
        len(prepared.review.sentences),
        prepared.timings.get("total", 0.0),
    )
    return StageResult(
        output=StageOutput(
            json_path=str(json_path),
            description_path=str(description_path),
            review=prepared.review.sentences,
        ),
        display={"metadata": prepared.summary},
        warnings=prepared.warnings,
    )


def _paths(services: Services, release: Release) -> tuple[Path, tuple[Path, Path]]:
    folder = staged_folder(services.settings, release)
    return folder, output_paths(services.settings, folder)


def artifacts_missing(release: Release) -> str | None:
    """Why the metadata checkpoint no longer holds (None when both files are there). Blocking."""
    for label, recorded in (
        ("fast-fill JSON", release.json_path),
        ("description", release.description_path),
    ):
        if not recorded:
            return f"the {label} path was never recorded"
        path = Path(recorded)
        if not path.is_file() or path.stat().st_size == 0:
            return f"{label} {path} is gone"
    return None
