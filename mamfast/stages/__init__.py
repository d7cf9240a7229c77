"""The four real stages and the pipeline that wires them to the engine.

Each stage module exposes `async def run(services, release) -> StageResult` and,
where its checkpoint leaves files behind, `artifacts_missing(release)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mamfast.config import Settings
from mamfast.engine import keys
from mamfast.engine.spec import Pipeline, StageSpec
from mamfast.models import Stage

if TYPE_CHECKING:
    from mamfast.stages.services import Services


def default_pipeline(settings: Settings) -> Pipeline[Services]:
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
