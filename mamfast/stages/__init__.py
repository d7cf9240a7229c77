"""The four real stages and the pipeline that wires them to the engine.

Each stage module exposes `async def run(res, release) -> StageResult` and,
where its checkpoint leaves files behind, `artifacts_missing(release)`.
"""

from __future__ import annotations

from mamfast.config import Settings
from mamfast.engine import keys
from mamfast.engine.pipeline import Pipeline, StageSpec
from mamfast.models import Stage


def default_pipeline(settings: Settings) -> Pipeline:
    from mamfast.stages import metadata, staging, torrent, upload

    return {
        Stage.STAGE: StageSpec(Stage.STAGE, staging.run, staging.artifacts_missing),
        Stage.METADATA: StageSpec(Stage.METADATA, metadata.run, metadata.artifacts_missing),
        Stage.TORRENT: StageSpec(
            Stage.TORRENT,
            torrent.run,
            torrent.artifacts_missing,
            queue=keys.HASH_QUEUE,
            timeout=settings.hash_timeout,
        ),
        Stage.UPLOAD: StageSpec(Stage.UPLOAD, upload.run),
    }
