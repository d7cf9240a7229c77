"""The engine a command or a worker opens: settings, Redis, the release store, the stages.

Reading or moving records needs nothing more, so `mamfast status`, `retry` or the
reconciler open no HTTP session, thread pool or torrent client. A worker builds the
stages' own services (`mamfast.stages.services`) on top of one of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic

from arq.connections import ArqRedis

from mamfast.config import Settings
from mamfast.engine.spec import Pipeline, S
from mamfast.engine.store import ReleaseStore


@dataclass
class Engine(Generic[S]):
    settings: Settings
    redis: ArqRedis
    stages: Pipeline[S]
    # The worker's liveness id (`engine.liveness`): leases taken for stage jobs are
    # registered under it, so they are voided within seconds if the worker dies.
    worker_id: str | None = None
    store: ReleaseStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = ReleaseStore(self.redis)
