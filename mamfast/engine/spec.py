"""What the engine knows of a stage: how to run it, where it queues, what voids its checkpoint.

The stages themselves live in `mamfast.stages`; the engine is generic over the
services object their functions take (`S`), so it never imports them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from mamfast.engine import keys
from mamfast.models import (
    Release,
    Stage,
    StageResult,
)

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)

S = TypeVar("S")
StageFunction = Callable[[S, Release], Awaitable[StageResult]]
ArtifactCheck = Callable[[Release], str | None]


def _no_artifacts(release: Release) -> str | None:
    return None


@dataclass(frozen=True)
class StageSpec(Generic[S]):
    """How the engine runs one stage. `artifacts_missing` returns why a checkpoint is void
    (blocking: the engine calls it in a thread)."""

    stage: Stage
    run: StageFunction[S]
    artifacts_missing: ArtifactCheck = _no_artifacts
    queue: str = keys.DEFAULT_QUEUE
    timeout: float | None = None  # None: settings.stage_timeout


Pipeline = Mapping[Stage, StageSpec[S]]


def queue_for(stages: Pipeline[S], stage: Stage) -> str:
    spec = stages.get(stage)
    return spec.queue if spec else keys.DEFAULT_QUEUE
