"""Benchmark: the built-in torrent creator against mktorrent, and against SHA-1 itself.

    .venv/bin/python bench/torrent_bench.py [--sizes 1,4] [--rounds 5] [--dir /tmp]

For each size it generates an audiobook-like folder (12 uneven `Part NN.m4b`
files of random bytes summing to exactly N GiB, plus a 153,607-byte
`cover.jpg`), reads it twice so every run is warm, then runs interleaved
rounds (1 warm-up, then --rounds timed; the order rotates every round):

* `mamfast torrent create` as a subprocess: end to end, interpreter start included;
* `create_torrent()` + `write_torrent_atomic()` in this process, on a live
  thread pool: what a worker (already running) spends on a release;
* `mktorrent -t <cores>` (Debian's 1.1) as a subprocess;

all at the same piece length (mkbrr's automatic choice for the data), and
checks that all three give the same infohash. Two limits are timed in the
same rounds, for the same byte count: the SHA-1 ceiling (hashlib on every
core over an in-memory buffer, no I/O) and preadv + SHA-1 (page cache into a
buffer, then hashlib, on every core, no piece logic), and mmap + SHA-1 (each
file mapped with MADV_SEQUENTIAL, hashlib over memoryview slices: no copy).
MB/s are 10^6 bytes/s; "of ceiling" is the ceiling's time divided by the
tool's time. Targets (printed, never enforced): in-process at most 0.90x
mktorrent's time and at least 93 % of the SHA-1 ceiling; the CLI at most 1.0x.
Generated data is deleted at the end.

The load average is printed: on a shared machine other work steals cores, so
compare the ratio (both tools ran in the same rounds) more than absolute MB/s.
To see where the time goes: `perf record -e cpu-clock -g` around a run, then
`perf report --sort dso,sym` (SHA-1 in libcrypto vs `_copy_to_iter` in the kernel).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import mmap
import os
import platform
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mamfast.torrents import create_torrent, read_torrent, write_torrent_atomic
from mamfast.torrents.pieces import auto_piece_exp

Result = tuple[float, float, str | None]  # wall s, CPU s, infohash (None for the limits)
CLI = "mamfast torrent create (CLI)"
INPROC = "create_torrent() in-process"
MKTORRENT = "mktorrent -t <cores>"
CEILING = "limit: SHA-1 only (hashlib)"
FLOOR = "limit: preadv + SHA-1"
MAPPED = "limit: mmap + SHA-1"
GIB = 1 << 30
COVER = 153_607
PARTS = 12
ANNOUNCE = "https://t.example.net/tracker.php/BENCHPASSKEY/announce"
MAMFAST = Path(sys.executable).with_name("mamfast")


# --------------------------------------------------------------------------- data


def make_book(parent: Path, gib: int) -> Path:
    """12 uneven parts summing to exactly `gib` GiB, plus a cover, of random bytes."""
    folder = parent / f"Author - Book {gib}G"
    folder.mkdir(parents=True)
    weights = [1.0 + ((i * 7) % 12) / 10 for i in range(PARTS)]  # 1.0 .. 2.1, uneven
    total = gib * GIB
    sizes = [int(total * w / sum(weights)) for w in weights]
    sizes[-1] += total - sum(sizes)
    for i, size in enumerate(sizes, 1):
        write_random(folder / f"Part {i:02d}.m4b", size)
    write_random(folder / "cover.jpg", COVER)
    return folder


def write_random(path: Path, size: int) -> None:
    block = 16 << 20
    with path.open("wb") as f:
        while size > 0:
            n = min(block, size)
            f.write(os.urandom(n))
            size -= n


def warm(folder: Path) -> None:
    for _ in range(2):
        for path in sorted(folder.iterdir()):
            with path.open("rb", buffering=0) as f:
                while f.read(16 << 20):
                    pass


def content_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


# --------------------------------------------------------------------------- runners


class Runner:
    def __init__(self, folder: Path, exp: int, out: Path, workers: int) -> None:
        self.folder, self.exp, self.out, self.workers = folder, exp, out, workers
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="bench-hash")
        self.env = {
            **os.environ,
            "MAMFAST_ANNOUNCE_URL": ANNOUNCE,
            "MAMFAST_DATA_DIR": str(out / "data"),
        }

    def cli(self) -> Result:
        target = self.out / "cli.torrent"
        target.unlink(missing_ok=True)
        argv = [str(MAMFAST), "torrent", "create", str(self.folder), "-o", str(target)]
        argv += ["-l", str(self.exp), "--json"]
        wall, cpu = timed_child(argv, env=self.env, cwd=self.out)
        return wall, cpu, read_torrent(target).infohash

    def inproc(self) -> Result:
        target = self.out / "inproc.torrent"
        target.unlink(missing_ok=True)
        cpu0 = cpu_self()
        started = time.perf_counter()
        made = asyncio.run(
            create_torrent(
                self.folder,
                source="MAM",
                announce=ANNOUNCE,
                piece_exp=self.exp,
                workers=self.workers,
                executor=self.pool,
            )
        )
        write_torrent_atomic(made.data, target)
        wall = time.perf_counter() - started
        return wall, cpu_self() - cpu0, made.infohash

    def mktorrent(self) -> Result:
        target = self.out / "mktorrent.torrent"
        target.unlink(missing_ok=True)
        argv = ["mktorrent", "-t", str(self.workers), "-l", str(self.exp), "-p", "-s", "MAM"]
        argv += ["-a", ANNOUNCE, "-o", str(target), str(self.folder)]
        wall, cpu = timed_child(argv, env=self.env, cwd=self.out)
        return wall, cpu, read_torrent(target).infohash


def timed_child(argv: list[str], *, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- limits


def sha1_ceiling(workers: int, total: int, block: int = 4 << 20) -> tuple[float, float, None]:
    """hashlib SHA-1 of `total` bytes on `workers` threads from an in-memory buffer (no I/O)."""
    buf = os.urandom(block)
    per_thread = -(-total // workers // block)

    def work() -> None:
        for _ in range(per_thread):
            hashlib.sha1(buf).digest()

    wall, cpu = _threaded(work, workers)
    scale = total / (per_thread * block * workers)  # report the time for exactly `total`
    return wall * scale, cpu * scale, None


def read_hash_floor(folder: Path, workers: int, chunk: int = 1 << 20) -> tuple[float, float, None]:
    """os.preadv (page cache -> buffer) + SHA-1 per chunk on `workers` threads, no piece logic."""
    files = sorted(folder.iterdir())
    jobs = [(p, off) for p in files for off in range(0, p.stat().st_size, chunk)]
    lock = threading.Lock()
    cursor = iter(jobs)

    def work() -> None:
        buf = memoryview(bytearray(chunk))
        while True:
            with lock:
                job = next(cursor, None)
            if job is None:
                return
            fd = os.open(job[0], os.O_RDONLY)
            try:
                n = os.preadv(fd, [buf], job[1])
            finally:
                os.close(fd)
            hashlib.sha1(buf[:n]).digest()

    wall, cpu = _threaded(work, workers)
    return wall, cpu, None


def mapped_hash_floor(
    folder: Path, workers: int, chunk: int = 1 << 20
) -> tuple[float, float, None]:
    """SHA-1 of memoryview slices of each file mapped with MADV_SEQUENTIAL (no copy)."""
    files = sorted(folder.iterdir())
    jobs = [(i, off) for i, p in enumerate(files) for off in range(0, p.stat().st_size, chunk)]
    lock = threading.Lock()
    cursor = iter(jobs)
    maps = []
    for path in files:
        with path.open("rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) if path.stat().st_size else None
        if mapped is not None:
            mapped.madvise(mmap.MADV_SEQUENTIAL)
        maps.append(mapped)

    def work() -> None:
        while True:
            with lock:
                job = next(cursor, None)
            if job is None:
                return
            mapped = maps[job[0]]
            if mapped is not None:
                with memoryview(mapped) as view:
                    hashlib.sha1(view[job[1] : job[1] + chunk]).digest()

    try:
        wall, cpu = _threaded(work, workers)
    finally:
        for mapped in maps:
            if mapped is not None:
                mapped.close()
    return wall, cpu, None


def _threaded(work: Callable[[], None], workers: int) -> tuple[float, float]:
    threads = [threading.Thread(target=work) for _ in range(workers)]
    cpu0 = cpu_self()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, cpu_self() - cpu0


# --------------------------------------------------------------------------- report


def bench_size(parent: Path, gib: int, rounds: int, workers: int) -> dict[str, Any]:
    print(f"\n== {gib} GiB: generating data ...", flush=True)
    folder = make_book(parent / "data", gib)
    out = parent / "out"
    out.mkdir(exist_ok=True)
    try:
        nbytes = content_bytes(folder)
        exp = auto_piece_exp(nbytes)
        warm(folder)
        runner = Runner(folder, exp, out, workers)
        tools: dict[str, Callable[[], Result]] = {
            CLI: runner.cli,
            INPROC: runner.inproc,
            MKTORRENT: runner.mktorrent,
            CEILING: lambda: sha1_ceiling(workers, nbytes),
            FLOOR: lambda: read_hash_floor(folder, workers),
            MAPPED: lambda: mapped_hash_floor(folder, workers),
        }
        names = list(tools)
        results: dict[str, list[Result]] = {n: [] for n in names}
        for n in names:  # warm-up, untimed
            tools[n]()
        loads = []
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for n in order:
                results[n].append(tools[n]())
            loads.append(os.getloadavg()[0])
        runner.pool.shutdown()
        print(f"load average (1 min) during the rounds: {min(loads):.2f}-{max(loads):.2f}")
        if max(loads) > (os.cpu_count() or 1) + 0.5:  # we alone keep every core busy
            print("WARNING: other work competed for the cores; these figures are unreliable")
        return report(gib, nbytes, exp, results, workers)
    finally:
        shutil.rmtree(parent / "data", ignore_errors=True)


def report(
    gib: int, nbytes: int, exp: int, results: dict[str, list[Result]], workers: int
) -> dict[str, Any]:
    hashes = {h for runs in results.values() for _, _, h in runs if h}
    mk_wall = statistics.median(w for w, _, _ in results[MKTORRENT])
    mk_cpu = statistics.median(c for _, c, _ in results[MKTORRENT])
    ceiling_wall = statistics.median(w for w, _, _ in results[CEILING])
    print(
        f"{gib} GiB + cover = {nbytes:,} bytes, piece 2^{exp}, {workers} threads, "
        f"median of {len(results[MKTORRENT])} interleaved rounds"
    )
    head = f"{'':32} {'wall s':>7} {'MB/s':>6} {'÷mktorrent':>10} {'of ceiling':>10}"
    print(f"{head} {'CPU s':>6} {'CPU ÷mkt':>8}")
    rows: dict[str, Any] = {}
    for name, runs in results.items():
        walls = [w for w, _, _ in runs]
        wall = statistics.median(walls)
        cpu = statistics.median(c for _, c, _ in runs)
        rate = nbytes / wall / 1e6
        ratio, share = wall / mk_wall, ceiling_wall / wall
        print(
            f"{name:32} {wall:7.3f} {rate:6.0f} {ratio:10.2f} {share:10.0%} {cpu:6.2f} "
            f"{cpu / mk_cpu:8.2f}   runs {' '.join(f'{w:.3f}' for w in walls)}"
        )
        rows[name] = {
            "wall": wall,
            "walls": walls,
            "cpu": cpu,
            "mb_s": rate,
            "ratio_to_mktorrent": ratio,
            "share_of_ceiling": share,
        }
    same = len(hashes) == 1
    print(f"same infohash from every tool: {'yes' if same else 'NO'} ({', '.join(sorted(hashes))})")
    ratio, share = rows[INPROC]["ratio_to_mktorrent"], rows[INPROC]["share_of_ceiling"]
    print(
        f"targets for {INPROC}: time <= 0.90x mktorrent: {ratio:.2f} "
        f"{'met' if ratio <= 0.90 else 'NOT met'}; >= 93% of the SHA-1 ceiling: "
        f"{share:.0%} {'met' if share >= 0.93 else 'NOT met'}"
    )
    cli_ratio = rows[CLI]["ratio_to_mktorrent"]
    print(
        f"target for {CLI}: time <= 1.0x mktorrent: {cli_ratio:.2f} "
        f"{'met' if cli_ratio <= 1.0 else 'NOT met'}"
    )
    print(
        f"read + hash limits, share of the SHA-1 ceiling: preadv "
        f"{rows[FLOOR]['share_of_ceiling']:.0%}, mmap {rows[MAPPED]['share_of_ceiling']:.0%}"
    )
    return {"gib": gib, "bytes": nbytes, "piece_exp": exp, "same_infohash": same, "tools": rows}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,4", help="GiB per data set, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to put the data")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not shutil.which("mktorrent"):
        sys.exit("mktorrent is not installed (apt-get install mktorrent)")
    print(
        f"{cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {ssl.OPENSSL_VERSION}"
    )
    parent = Path(tempfile.mkdtemp(prefix="mamfast-bench-", dir=args.dir))
    try:
        figures = [
            bench_size(parent, int(g), args.rounds, args.workers) for g in args.sizes.split(",")
        ]
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
