"""Engine overhead per stage hop: Redis and queue work around no-op stages.

    .venv/bin/python bench/engine.py [--releases 200] [--rounds 5]

Starts a private Redis (AOF on, appendfsync everysec, as the tests use) and
measures, median of rounds:

* direct: `run_stage` called in a loop for N releases x 4 stages whose work is a
  no-op: the engine's own cost per hop (record reads, lease, fenced commits,
  enqueue of the next job) in ms and in Redis commands (INFO commandstats); and the
  same with the engine's statistics (`engine.stats`) switched off, for their share;
* workers: the same releases through real arq workers (both queues) until all
  are done, against plain arq jobs chained the same number of hops with the
  same worker settings: the peer baseline, run in the same process. Plain arq
  polls every 0.1 s (`ARQ_CLI_POLL`, what mamfast's workers used before wake-ups);
* idle: Redis commands per second while both queues' workers have nothing to do
  (INFO commandstats over `--idle-seconds`, after a few seconds of start-up).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from arq.connections import ArqRedis
from arq.worker import Worker, func

from mamfast.config import Settings
from mamfast.engine import keys, serializer, stage_job
from mamfast.engine.connections import connect
from mamfast.engine.dispatch import submit
from mamfast.engine.spec import StageSpec
from mamfast.engine.stage_job import run_stage
from mamfast.models import STAGE_ORDER, Release, Stage, StageResult, Status
from mamfast.ops.embedded import RedisServer, free_port
from mamfast.stages.services import Services, open_services
from workers.serve import serve

BARE_POLL = 0.1  # plain arq's poll in the peer run: the delay mamfast's workers used before


async def noop(res: Services, release: Release) -> StageResult:
    return StageResult(final_status=Status.READY if release.stage is Stage.UPLOAD else None)


PIPELINE = {
    stage: StageSpec(
        stage, noop, queue=keys.HASH_QUEUE if stage is Stage.TORRENT else keys.DEFAULT_QUEUE
    )
    for stage in STAGE_ORDER
}


async def commands(redis) -> int:  # type: ignore[no-untyped-def]
    stats = await redis.info("commandstats")
    return sum(int(v["calls"]) for v in stats.values())


async def fresh_releases(settings: Settings, n: int) -> tuple[ArqRedis, Services]:
    """An empty database with `n` releases submitted (their first jobs queued)."""
    redis = await connect(settings.secret("redis_url") or "")
    await redis.flushdb()
    res = await open_services(settings, redis, PIPELINE)
    for i in range(n):
        await submit(res.engine, Release(asin=f"B0BENCH{i:03d}", source_dir="/x"))
    return redis, res


class _NoStats:
    """Stands in for `engine.stats` in `stage_job` to measure what recording costs."""

    @staticmethod
    async def record_run(*_args: object, **_kwargs: object) -> None:
        return None

    @staticmethod
    async def record_failure(*_args: object, **_kwargs: object) -> None:
        return None


async def direct_round(settings: Settings, n: int, *, stats: bool = True) -> tuple[float, float]:
    if not stats:
        recording = stage_job.stats
        stage_job.stats = _NoStats  # type: ignore[assignment]
        try:
            return await direct_round(settings, n)
        finally:
            stage_job.stats = recording
    redis, res = await fresh_releases(settings, n)
    before = await commands(redis)
    start = time.perf_counter()
    for i in range(n):
        asin = f"B0BENCH{i:03d}"
        for stage in STAGE_ORDER:
            record = await res.engine.store.get(asin)
            assert record is not None
            await run_stage(res.engine, res, asin, stage.value, record.job_id)
    elapsed = time.perf_counter() - start
    used = await commands(redis) - before - n * 4  # minus the benchmark's own reads
    await redis.aclose()
    return elapsed / (n * 4) * 1000, used / (n * 4)


async def engine_round(settings: Settings, n: int) -> tuple[float, float]:
    redis, res = await fresh_releases(settings, n)
    before = await commands(redis)
    start = time.perf_counter()

    async def done() -> bool:
        return len(await res.engine.store.active_asins()) == 0

    await serve(
        settings,
        [keys.DEFAULT_QUEUE, keys.HASH_QUEUE],
        stages=PIPELINE,
        stop_when=done,
        check_every=0.05,
    )
    elapsed = time.perf_counter() - start
    used = await commands(redis) - before
    await redis.aclose()
    hops = n * 4
    return elapsed / hops * 1000, used / hops


async def bare_arq_round(settings: Settings, url: str, n: int) -> tuple[float, float]:
    """The peer baseline: plain arq jobs that do nothing, chained the same number of hops."""
    redis = await connect(url)
    await redis.flushdb()

    async def hop(ctx, i: int, left: int) -> None:  # type: ignore[no-untyped-def]
        if left > 1:
            await ctx["redis"].enqueue_job("hop", i, left - 1, _job_id=f"bare:{i}:{left - 1}")

    for i in range(n):
        await redis.enqueue_job("hop", i, 4, _job_id=f"bare:{i}:4")
    before = await commands(redis)
    worker = Worker(
        functions=[func(hop, name="hop")],
        redis_pool=redis,
        burst=True,
        poll_delay=BARE_POLL,
        handle_signals=False,
        keep_result=0,
        max_jobs=settings.worker_jobs,
        job_serializer=serializer.dumps,
        job_deserializer=serializer.loads,
    )
    start = time.perf_counter()
    await worker.main()
    elapsed = time.perf_counter() - start
    used = await commands(redis) - before
    await redis.aclose()
    return elapsed / (n * 4) * 1000, used / (n * 4)


async def idle_round(settings: Settings, seconds: float) -> float:
    """Redis commands per second with both queues' workers running and nothing queued."""
    redis = await connect(settings.secret("redis_url") or "")
    await redis.flushdb()
    stopping = asyncio.Event()

    async def stop() -> bool:
        return stopping.is_set()

    workers = asyncio.create_task(
        serve(settings, [keys.DEFAULT_QUEUE, keys.HASH_QUEUE], stages=PIPELINE, stop_when=stop)
    )
    await asyncio.sleep(3)  # start-up: the first scan cron, subscriptions, first beats
    before = await commands(redis)
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    used = await commands(redis) - before - 1  # minus our own INFO
    elapsed = time.perf_counter() - start
    stopping.set()
    await workers
    await redis.aclose()
    return used / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--releases", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--idle-rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(home=Path(tmp) / "redis", port=free_port(), fsync="everysec")
        server.start()
        try:
            settings = Settings(_env_file=None, redis_url=server.url, data_dir=Path(tmp) / "data")  # type: ignore[call-arg]
            direct, unrecorded, engine, bare = [], [], [], []
            for _ in range(args.rounds):  # interleaved, so machine noise hits all alike
                direct.append(await direct_round(settings, args.releases))
                unrecorded.append(await direct_round(settings, args.releases, stats=False))
                engine.append(await engine_round(settings, args.releases))
                bare.append(await bare_arq_round(settings, server.url, args.releases))
            idle = [await idle_round(settings, args.idle_seconds) for _ in range(args.idle_rounds)]
        finally:
            server.stop()

    def med(rows: list[tuple[float, float]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    d_ms, d_cmd = med(direct, 0), med(direct, 1)
    u_ms, u_cmd = med(unrecorded, 0), med(unrecorded, 1)
    e_ms, b_ms = med(engine, 0), med(bare, 0)
    print(f"releases={args.releases} rounds={args.rounds} hops/round={args.releases * 4}")
    print(
        f"direct  : {d_ms:6.2f} ms/hop of engine work, {d_cmd:.1f} Redis commands/hop (incl. Lua)"
    )
    print(
        f"no stats: {u_ms:6.2f} ms/hop, {u_cmd:.1f} commands/hop: statistics add "
        f"{d_cmd - u_cmd:.1f} commands and {d_ms / u_ms:.2f}x the time per hop"
    )
    print(f"workers : {e_ms:6.2f} ms/hop wall ({1000 / e_ms:.0f} hops/s)")
    print(f"bare arq: {b_ms:6.2f} ms/hop wall ({1000 / b_ms:.0f} hops/s)")
    print(f"ratio   : {e_ms / b_ms:.2f}x bare arq's wall time per hop")
    print(
        f"idle    : {statistics.median(idle):.1f} Redis commands/s with both queues' workers "
        f"idle (median of {len(idle)} x {args.idle_seconds:.0f} s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
