"""Throughput of `mamfast run` on many small releases, with 1, 2 and 4 workers per queue.

    .venv/bin/python bench/run_scale.py [--releases 200] [--workers 1,2,4] [--rounds 3]
        [--against REV]

Writes a Libation-shaped library of N books (a tiny m4b, a cover and a metadata
dump each), then, per round and worker count (interleaved), runs
`mamfast run --library LIB --workers W` as a subprocess on a fresh data dir
(private Redis, no qBittorrent, Audnex pointed at a closed loopback port, so
the metadata stage falls back to Libation's data at once). Prints the median
wall time and releases per second.

--against REV (a git revision, e.g. main) also runs that revision's code
(`mamfast` and `workers` from `git archive`) on the same library, rounds
interleaved with this tree's, and prints each worker count's ratio: on a shared
machine compare the ratios more than the absolute figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from revision import source_of  # bench/revision.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support: the same tiny books the tests use

from tests.support.library import tiny_books  # noqa: E402

CPU: list[float] = []  # CPU seconds of each run (its reaped children included)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(library: Path, data: Path, workers: int, source: Path = ROOT) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMFAST_")}
    env["PYTHONPATH"] = str(source)
    env.update(
        MAMFAST_DATA_DIR=str(data),
        MAMFAST_AUDNEX_URL="http://127.0.0.1:9",
        MAMFAST_LOG_LEVEL="WARNING",
    )
    start, cpu = time.perf_counter(), children_cpu()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mamfast",
            "run",
            "--library",
            str(library),
            "--workers",
            str(workers),
        ],
        env=env,
        cwd=source,  # `-m mamfast` imports from the working directory first
        capture_output=True,
        text=True,
        timeout=3600,
    )
    elapsed = time.perf_counter() - start
    CPU.append(children_cpu() - cpu)
    if result.returncode != 0:
        tail = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        raise SystemExit(f"mamfast run failed ({result.returncode}):\n{tail}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--releases", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", default=None, help="git revision to compare with")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"this tree": ROOT}
        if args.against:
            sources[args.against] = source_of(args.against, Path(tmp) / "peer")
        times: dict[tuple[str, int], list[float]] = {
            (name, w): [] for name in sources for w in counts
        }
        cpu: dict[tuple[str, int], list[float]] = {key: [] for key in times}
        library = Path(tmp) / "library"
        tiny_books(library, args.releases, prefix="B0SCALE", authors=20)
        for round_ in range(args.rounds):
            # Alternate which code goes first, so a load change hits both alike.
            for name in sorted(sources, reverse=bool(round_ % 2)):
                for workers in counts:
                    data = Path(tmp) / f"data-{round_}-{workers}"
                    times[name, workers].append(run_once(library, data, workers, sources[name]))
                    cpu[name, workers].append(CPU[-1])
                    shutil.rmtree(data)
    print(f"releases={args.releases} rounds={args.rounds} cpus={os.cpu_count()}")
    for name in sources:
        base = statistics.median(times[name, counts[0]])
        for workers in counts:
            median = statistics.median(times[name, workers])
            runs = ", ".join(f"{t:.1f}" for t in times[name, workers])
            print(
                f"{name}: workers={workers}: {median:6.1f} s median  "
                f"{args.releases / median:6.1f} releases/s  "
                f"speed-up {base / median:.2f}x  (runs: {runs})  "
                f"CPU {statistics.median(cpu[name, workers]):.1f} s median"
            )
    if args.against:
        for workers in counts:
            ours = statistics.median(times["this tree", workers])
            peer = statistics.median(times[args.against, workers])
            print(f"workers={workers}: this tree / {args.against} wall ratio {ours / peer:.2f}")


if __name__ == "__main__":
    main()
