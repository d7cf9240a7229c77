"""`mamfast run`: scan, then work every release to the end in this one process.

With no MAMFAST_REDIS_URL the run uses the data dir's private Redis
(`private_redis`: started if no other command runs it, stopped at the end
unless another command still uses it; its AOF keeps the state for the next
run). The run lock keeps a second `mamfast run` off the same data dir. Workers
for both queues run in-process until no release is left unfinished; with more
than one worker per queue and `processes` given, the others run in worker
processes (one event loop is one core) that end with the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mamfast.clients import notify
from mamfast.config import Settings
from mamfast.engine import keys
from mamfast.engine.connections import connect
from mamfast.engine.engine import Engine
from mamfast.engine.spec import Pipeline
from mamfast.models import Release, Status
from mamfast.ops import libation
from mamfast.ops.enqueue import EnqueueReport, enqueue
from mamfast.ops.private_redis import redis_ready
from mamfast.ops.runlock import run_lock

LiveView = Callable[[Engine[Any], "RunState"], contextlib.AbstractAsyncContextManager[None]]
StopWhen = Callable[[], Awaitable[bool]]
FINISHED_CHECK_SECONDS = 0.2  # how soon the run notices its last release is done


class Serve(Protocol):
    """Runs arq workers for `queues` in this process until `stop_when()` is true.

    The command line passes `workers.serve.serve`: the workers package sits above
    this one, so it is handed in rather than imported.
    """

    def __call__(
        self,
        settings: Settings,
        queues: Sequence[str],
        *,
        stages: Pipeline[Any],
        stop_when: StopWhen,
        check_every: float,
    ) -> Awaitable[int]: ...


class Processes(Protocol):
    """Runs `count` worker processes serving `queues` for the block's duration.

    The command line passes `workers.processes.worker_processes` (on Linux): the
    processes build the default stages themselves, so a run with other stages
    passes none and keeps every worker in-process.
    """

    def __call__(
        self, settings: Settings, queues: Sequence[str], count: int
    ) -> contextlib.AbstractAsyncContextManager[None]: ...


@dataclass
class RunState:
    """What the live view shows: this run's releases and the scan report."""

    asins: list[str] = field(default_factory=list)
    scan: EnqueueReport | None = None
    releases: list[Release] = field(default_factory=list)


@dataclass
class RunResult:
    scan: EnqueueReport
    releases: list[Release]
    libation: libation.LibationOutcome | None = None

    @property
    def exit_code(self) -> int:
        """0 only when every release finished and none needs attention."""
        ok = all(r.terminal and r.status is not Status.NEEDS_ATTENTION for r in self.releases)
        return 0 if ok else 1


async def run(
    settings: Settings,
    *,
    stages: Pipeline[Any],
    serve: Serve,
    library: Path | None = None,
    workers: int = 1,
    live: LiveView | None = None,
    run_libation: bool = True,
    processes: Processes | None = None,
) -> RunResult:
    if library is not None:
        settings = settings.model_copy(update={"library_dir": library})
    with run_lock(settings.data_dir):
        async with redis_ready(settings) as ready:
            redis = await connect(ready.secret("redis_url") or "")
            engine = Engine(ready, redis, stages)
            try:
                state = RunState()
                # MAMFAST_LIBATION_COMMAND first, so the scan sees what it downloaded; its
                # failure is said at the end and the run goes on.
                before = await libation.before_scan(engine) if run_libation else None
                state.scan = await enqueue(engine)
                # Also what was already waiting (a `mamfast retry`, a folder still settling):
                # the run works it to the end, so its table shows it.
                waiting = await engine.store.active_asins()
                state.asins = list(dict.fromkeys([r.asin for r in state.scan.releases] + waiting))

                async def finished() -> bool:
                    # One SCARD: cheap enough to ask often, so the run ends as soon as
                    # its last release does. The live view reads the records itself.
                    return not await engine.redis.scard(keys.ACTIVE)  # type: ignore[misc]

                extra = workers - 1 if processes is not None else 0
                queues = _queues(workers - extra)
                view = live(engine, state) if live else contextlib.nullcontext()
                others: contextlib.AbstractAsyncContextManager[None] = (
                    processes(ready, _queues(1), extra)
                    if processes is not None and extra
                    else contextlib.nullcontext()
                )
                async with view, others:
                    if not await finished():
                        await serve(
                            ready,
                            queues,
                            stages=stages,
                            stop_when=finished,
                            check_every=FINISHED_CHECK_SECONDS,
                        )
                    state.releases = await engine.store.get_many(state.asins)
                await notify.flush(engine)
                return RunResult(scan=state.scan, releases=state.releases, libation=before)
            finally:
                await redis.aclose()


def _queues(workers: int) -> Sequence[str]:
    return [keys.DEFAULT_QUEUE] * workers + [keys.HASH_QUEUE] * workers
