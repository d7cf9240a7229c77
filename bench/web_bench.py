"""The dashboard's cost per open page: one tick of its event stream over N releases.

    .venv/bin/python bench/web_bench.py [--releases 1000 5000] [--rounds 9]

Starts a private Redis (AOF on, appendfsync everysec), stores N finished releases
and measures, median of rounds, in the same process:

* tick: what one open list page costs the server each half second once the page is
  open (records read, only changed ones decoded, progress read, rows built, filters and
  view counts applied, the pool panel read); a tick's records are shared by every page;
Ticks are averaged (a full read of every record comes every FULL_EVERY seconds);
the rest are medians.

* peer: the bare record read `mamfast status` does (`store.read_many` of every ASIN),
  the floor any listing pays.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from mamfast.config import Settings
from mamfast.engine.connections import connect
from mamfast.engine.engine import Engine
from mamfast.models import Release, Stage, Status
from mamfast.ops.embedded import RedisServer, free_port
from mamfast.stages import default_pipeline
from mamfast.web import pool, present
from mamfast.web.reading import FRESH_FOR, Reader


async def tick(engine: Engine[object], reader: Reader, filters: present.Filters) -> int:
    await asyncio.sleep(FRESH_FOR)  # a new read each time, as one page every tick
    found = await reader.everything()
    # A stream rebuilds a row only when its record, progress or age changed: in a quiet
    # library, none. The first tick of a page builds them all (measured apart).
    shown = [r for r in found.records if filters.matches(r)]
    found.counts()
    await pool.snapshot(engine.redis)
    return len(shown)


async def first_page(engine: Engine[object], reader: Reader) -> int:
    """A page opening: every row built and sent once."""
    found = await reader.everything()
    rows = [json.dumps(present.row(r, None, engine.settings.max_attempts)) for r in found.records]
    return len(rows)


async def peer(engine: Engine[object]) -> int:
    records, _ = await engine.store.read_many(await engine.store.asins())
    return len(records)


async def timed(work: object, rounds: int, *, mean: bool = False) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await work()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.mean(samples) if mean else statistics.median(samples)


async def measure(settings: Settings, n: int, rounds: int) -> None:
    redis = await connect(settings.secret("redis_url") or "")
    await redis.flushdb()
    engine: Engine[object] = Engine(settings, redis, default_pipeline(settings))  # type: ignore[arg-type]
    for i in range(n):
        release = Release(
            asin=f"B0{i:08d}",
            title=f"Book {i}",
            author="Author",
            stage=Stage.DONE,
            status=Status.READY,
            review=["check the cover"],
        )
        await engine.store.create(release)
    filters = present.Filters(view="all")
    reader = Reader(engine)
    await reader.everything()  # the first read decodes everything; later ones what changed
    # The mean, not the median: every FULL_EVERY seconds a tick reads every record.
    page = await timed(lambda: tick(engine, reader, filters), rounds * 4, mean=True) - FRESH_FOR
    opening = await timed(lambda: first_page(engine, reader), rounds)
    floor = await timed(lambda: peer(engine), rounds)
    print(
        f"{n:>6} releases: tick {page * 1000:6.1f} ms ({page / floor:4.2f}x the status read "
        f"of {floor * 1000:6.1f} ms; {page / 0.5 * 100:4.1f}% of a core), "
        f"a page opening {opening * 1000:6.1f} ms"
    )
    await redis.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--releases", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(home=Path(tmp) / "redis", port=free_port(), fsync="everysec")
        server.start()
        try:
            settings = Settings(_env_file=None, redis_url=server.url, data_dir=Path(tmp) / "data")  # type: ignore[call-arg]
            for n in args.releases:
                await measure(settings, n, args.rounds)
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
