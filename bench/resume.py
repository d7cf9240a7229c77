"""Time to resume after a worker is SIGKILLed mid-stage.

    .venv/bin/python bench/resume.py [--kills 10]

Starts a private Redis and two worker processes (both queues each, production
lease and reconciler timings). For each kill: a release whose metadata stage
sleeps until told otherwise is submitted, the worker that starts the stage is
SIGKILLed and replaced by a fresh one, and the clock runs until the stage starts
again on another worker. Prints p50 and p95 of that delay, next to the figure
measured before worker heartbeats (24-38 s: a lease TTL plus two reconciler passes).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mamfast.config import Settings, load_settings
from mamfast.engine import keys
from mamfast.engine.connections import connect
from mamfast.engine.dispatch import submit
from mamfast.engine.engine import Engine
from mamfast.engine.spec import Pipeline, StageSpec
from mamfast.models import STAGE_ORDER, Release, Stage, StageResult, Status
from mamfast.ops.embedded import RedisServer, free_port
from mamfast.stages.services import Services
from workers.serve import serve

PREVIOUS = "24-38 s"
STARTS = "bench:resume:starts"  # list of "asin pid time" per metadata start


def hold_key(asin: str) -> str:
    return f"bench:resume:hold:{asin}"


async def stage(res: Services, release: Release) -> StageResult:
    """No-op stages, except metadata: it records its start and waits while held."""
    if release.stage is Stage.METADATA:
        await res.redis.rpush(STARTS, f"{release.asin} {os.getpid()} {time.time()}")  # type: ignore[misc]
        while True:  # held until the benchmark has killed this worker
            if not await res.redis.exists(hold_key(release.asin)):
                break
            await asyncio.sleep(0.05)
    return StageResult(final_status=Status.READY if release.stage is Stage.UPLOAD else None)


PIPELINE: Pipeline[Services] = {
    s: StageSpec(s, stage, queue=keys.HASH_QUEUE if s is Stage.TORRENT else keys.DEFAULT_QUEUE)
    for s in STAGE_ORDER
}


def spawn(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMFAST_")}
    env.update(
        MAMFAST_REDIS_URL=settings.secret("redis_url") or "",
        MAMFAST_DATA_DIR=str(settings.data_dir),
        MAMFAST_LIBRARY_DIR=str(settings.library_dir),
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, __file__, "--worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def starts_of(engine: Engine[Services], asin: str) -> list[tuple[int, float]]:
    rows = [r.decode().split() for r in await engine.redis.lrange(STARTS, 0, -1)]
    return [(int(pid), float(at)) for a, pid, at in rows if a == asin]


async def wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def one_kill(
    engine: Engine[Services], procs: dict[int, subprocess.Popen[bytes]], i: int, spawn_one
) -> float:  # type: ignore[no-untyped-def]
    asin = f"B0RESUME{i:02d}"
    await engine.redis.set(hold_key(asin), 1)
    await submit(engine, Release(asin=asin, source_dir="/library/x"))

    async def started() -> bool:
        return bool(await starts_of(engine, asin))

    await wait_for(started, 60, f"{asin} metadata start")
    (pid, _), *_ = await starts_of(engine, asin)
    procs.pop(pid).send_signal(signal.SIGKILL)
    killed_at = time.time()
    await engine.redis.delete(hold_key(asin))
    spawn_one()  # the pool keeps two workers, as a restart policy would

    async def resumed() -> bool:
        return len(await starts_of(engine, asin)) >= 2

    await wait_for(resumed, 120, f"{asin} to resume")
    delay = (await starts_of(engine, asin))[1][1] - killed_at

    async def done() -> bool:
        record = await engine.store.get(asin)
        return record is not None and record.terminal

    await wait_for(done, 60, f"{asin} to finish")
    return delay


async def main(kills: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(home=Path(tmp) / "redis", port=free_port(), fsync="everysec")
        server.start()
        library = Path(tmp) / "library"
        library.mkdir()
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, redis_url=server.url, data_dir=Path(tmp) / "data", library_dir=library
        )
        procs: dict[int, subprocess.Popen[bytes]] = {}

        def spawn_one() -> None:
            proc = spawn(settings, Path(tmp) / "workers.log")
            procs[proc.pid] = proc

        redis = await connect(server.url)
        try:
            engine = Engine(settings, redis, PIPELINE)
            spawn_one()
            spawn_one()
            delays = []
            for i in range(kills):
                delays.append(await one_kill(engine, procs, i, spawn_one))
                print(f"kill {i + 1:2d}: resumed after {delays[-1]:.2f} s", flush=True)
        finally:
            for proc in procs.values():
                proc.terminate()
            for proc in procs.values():
                proc.wait()
            await redis.aclose()
            server.stop()
    p95 = statistics.quantiles(delays, n=20, method="inclusive")[-1] if len(delays) > 1 else 0
    print(
        f"kills={kills} lock_ttl={settings.lock_ttl:.0f}s reconcile={settings.reconcile_seconds}s"
    )
    print(f"time to resume: p50 {statistics.median(delays):.2f} s, p95 {p95:.2f} s")
    print(f"before worker heartbeats: {PREVIOUS}")


def worker() -> int:
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(serve(load_settings(), list(keys.QUEUES.values()), stages=PIPELINE))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.exit(worker() if args.worker else asyncio.run(main(args.kills)))
