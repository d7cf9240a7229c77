"""Per-release time of the upload stage against a real qbittorrent-nox (loopback).

    .venv/bin/python -m bench.upload [--releases 20] [--mib 0.2 256] [--refresh-ms 250 1500]

(run as a module from the repository root: it reuses the tests' qbittorrent-nox launcher)

For each release size and qBittorrent refresh interval, stages N releases
(random files, a private v1 torrent each), then times `upload.run` per release,
one after another, as a worker runs it: lookup, add under the infohash lock,
confirm, wait until seeding. Reported per mode (skip checking on/off): median,
p90 and max wall time, the share spent waiting for a seeding state, and the
median of a second run over the same releases (already present: lookup + state).

qBittorrent's `Session\\RefreshInterval` (default 1500 ms; the tests use 250)
decides how late a state change becomes visible, so it is part of the result.
Data is freshly written, so qBittorrent's full check reads it from the page
cache: cold-disk checks take longer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import qbittorrentapi
from pydantic import SecretStr

from mamfast.config import Settings
from mamfast.engine.connections import connect
from mamfast.engine.spec import StageSpec
from mamfast.models import Stage
from mamfast.ops.embedded import RedisServer, free_port
from mamfast.stages import upload
from mamfast.stages.services import open_services
from tests.support.qbittorrent import QbitServer
from tests.support.torrent_files import StagedBook, make_torrent

PIPELINE = {Stage.UPLOAD: StageSpec(Stage.UPLOAD, upload.run)}
PART_MIB = 64  # files of at most this size, like a multi-part book


def make_books(root: Path, count: int, mib: float) -> list[StagedBook]:
    books = []
    total = int(mib * 1024 * 1024)
    piece = 16 * 1024 if total < 8 * 1024 * 1024 else 1024 * 1024
    for i in range(count):
        folder = root / "seed" / f"Bench Book {i:02d} ({mib:g} MiB)"
        folder.mkdir(parents=True)
        left, part = total, 1
        while left > 0:
            size = min(left, PART_MIB * 1024 * 1024)
            (folder / f"Part {part:02d}.m4b").write_bytes(os.urandom(size))
            left, part = left - size, part + 1
        out = root / "torrents" / folder.name / f"{folder.name}.torrent"
        books.append(StagedBook(folder, out, make_torrent(folder, out, piece_length=piece)))
    return books


async def time_runs(
    settings: Settings, redis_url: str, books: list[StagedBook]
) -> list[dict[str, Any]]:
    redis = await connect(redis_url)
    res = await open_services(settings, redis, PIPELINE)
    rows = []
    try:
        for i, book in enumerate(books):
            started = time.perf_counter()
            result = await upload.run(res, book.release(f"B0BENCH{i:03d}"))
            rows.append({"wall": time.perf_counter() - started, **result.display["qbit"]})
    finally:
        await res.close()
        await redis.aclose()
    return rows


def summary(rows: list[dict[str, Any]]) -> str:
    wall = sorted(r["wall"] for r in rows)
    seed = statistics.median(r["seed_seconds"] for r in rows)
    p90 = wall[min(len(wall) - 1, int(0.9 * len(wall)))]
    return (
        f"median {statistics.median(wall) * 1000:7.0f} ms  p90 {p90 * 1000:7.0f} ms  "
        f"max {wall[-1] * 1000:7.0f} ms  (waiting for seeding: median {seed * 1000:.0f} ms)"
    )


async def bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="mamfast-bench-") as tmp:
        root = Path(tmp)
        redis = RedisServer(home=root / "redis", port=free_port(), fsync="everysec")
        redis.start()
        qbit = QbitServer(home=root / "qbt")
        try:
            for mib in args.mib:
                books = make_books(root / f"{mib:g}", args.releases, mib)
                for refresh in args.refresh_ms:
                    qbit.stop()
                    qbit.refresh_ms = refresh
                    qbit.start()
                    for skip in (True, False):
                        await one_mode(args, redis.url, qbit, books, mib, refresh, skip)
        finally:
            qbit.stop()
            redis.stop()


def empty(admin: qbittorrentapi.Client) -> None:
    """Remove every torrent (files kept) and wait until qBittorrent lists none."""
    admin.torrents_delete(delete_files=False, torrent_hashes="all")
    while admin.torrents_info():
        time.sleep(0.05)


async def one_mode(
    args: argparse.Namespace,
    redis_url: str,
    qbit: QbitServer,
    books: list[StagedBook],
    mib: float,
    refresh: int,
    skip: bool,
) -> None:
    admin = qbittorrentapi.Client(host=qbit.url, username=qbit.username, password=qbit.password)
    empty(admin)
    settings = Settings(
        _env_file=None,
        redis_url=redis_url,
        data_dir=Path(tempfile.gettempdir()),
        qbit_url=qbit.url,
        qbit_username=qbit.username,
        qbit_password=SecretStr(qbit.password),
        qbit_skip_checking=skip,
        qbit_seed_timeout=600,
    )
    first = await time_runs(settings, redis_url, books)
    again = await time_runs(settings, redis_url, books)
    assert all(r["added"] for r in first) and not any(r["added"] for r in again)
    assert len(admin.torrents_info()) == len(books)
    label = f"{mib:>6g} MiB  refresh {refresh:>4} ms  skip_checking={'on ' if skip else 'off'}"
    print(f"{label}  add: {summary(first)}")
    again_ms = statistics.median(r["wall"] for r in again) * 1000
    print(f"{' ' * len(label)}  re-run (already present): median {again_ms:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--releases", type=int, default=20)
    parser.add_argument("--mib", type=float, nargs="+", default=[0.2, 256.0])
    parser.add_argument("--refresh-ms", type=int, nargs="+", default=[250, 1500])
    args = parser.parse_args()
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
