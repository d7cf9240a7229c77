"""Metadata stage cost: MediaInfo backends, and one release with a cold or warm Audnex cache.

    .venv/bin/python bench/metadata_bench.py [--rounds 20]

Starts a private Redis and the tests' fake Audnex on loopback (answers at
once, so "cold" is our own cost plus one local round trip per request, not
the public service's latency), and prints medians:

* MediaInfo per call: the mediainfo CLI vs the bundled libmediainfo child,
  on one 5 s m4b and on a 10-part book (one child process per book either way);
* the whole stage for one release (MediaInfo + Audnex + JSON + description +
  atomic writes): first run (cache empty) vs re-run (cache warm, no request).
  The token bucket is given a full burst so the figures are our own cost; in
  production a cold release spends 2 of the pool's MAMFAST_AUDNEX_RATE_PER_MINUTE.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.support.fake_audnex

from mamfast.clients.audnex import AudnexClient, RetryPolicy  # noqa: E402
from mamfast.clients.mediainfo import probe  # noqa: E402
from mamfast.config import Settings  # noqa: E402
from mamfast.engine.connections import connect  # noqa: E402
from mamfast.library.selection import book_audio  # noqa: E402
from mamfast.models import Release, Stage  # noqa: E402
from mamfast.ops.embedded import RedisServer, free_port  # noqa: E402
from mamfast.stages import metadata  # noqa: E402
from mamfast.stages.services import open_services  # noqa: E402
from tests.support.fake_audnex import FakeAudnex  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio" / "book.m4b"
ASINS = ["B003ZWFO7E", "B08G9PRS1K", "B0SAO16XYZ", "B0MUSHOKU1"]


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.1f} ms"


async def bench_mediainfo(tmp: Path, rounds: int) -> None:
    parts = tmp / "parts"
    parts.mkdir()
    for n in range(1, 11):
        shutil.copyfile(AUDIO, parts / f"Book - Part {n:02d}.m4b")
    books = {"1 file": [AUDIO], "10 files": book_audio(parts, [".m4b"])}
    for backend in (None, "bundled"):
        settings = Settings(_env_file=None, mediainfo_cmd=backend)
        for label, files in books.items():
            samples = []
            for _ in range(rounds):
                started = time.perf_counter()
                result = await probe(files, settings)
                samples.append(time.perf_counter() - started)
            print(f"mediainfo {result.backend:8s} {label:9s} {ms(samples)}")


async def bench_stage(tmp: Path, rounds: int) -> None:
    server = RedisServer(home=tmp / "redis", port=free_port(), fsync="everysec")
    server.start()
    audnex = FakeAudnex()
    await audnex.start()
    redis = await connect(server.url)
    try:
        settings = Settings(
            _env_file=None,
            redis_url=server.url,
            data_dir=tmp / "data",
            audnex_url=audnex.url,
            audnex_rate_per_minute=100,
        )
        res = await open_services(settings, redis, {})
        # A full bucket for the bench: we time our own work, not the 100/min budget.
        await res.audnex.close()
        res.audnex = AudnexClient.for_worker(settings, redis, policy=RetryPolicy(burst=100))
        res.on_close(res.audnex.close)
        cold: list[float] = []
        warm: list[float] = []
        waits: list[float] = []
        for round_ in range(rounds):
            await redis.flushdb()
            for asin in ASINS:
                folder = tmp / "seed" / f"{round_}" / f"Book {{ASIN.{asin}}}"
                folder.mkdir(parents=True)
                shutil.copyfile(AUDIO, folder / "Book.m4b")
                release = Release(asin=asin, staging_dir=str(folder), stage=Stage.METADATA)
                for bucket in (cold, warm):
                    started = time.perf_counter()
                    result = await metadata.run(res, release)
                    bucket.append(time.perf_counter() - started)
                    if bucket is cold:
                        waits.append(result.display["metadata"]["timings_s"]["audnex"])
        await res.close()
        print(f"stage, cold cache  {ms(cold)}  ({len(cold)} releases; Audnex part {ms(waits)})")
        print(f"stage, warm cache  {ms(warm)}  ({len(warm)} releases, 0 Audnex requests)")
    finally:
        await redis.aclose()
        await audnex.stop()
        server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await bench_mediainfo(Path(tmp), args.rounds)
        await bench_stage(Path(tmp), max(1, args.rounds // 4))


if __name__ == "__main__":
    asyncio.run(main())
