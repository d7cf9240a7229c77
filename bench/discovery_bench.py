"""Benchmark discovery and staging on a generated Libation-shaped library.

    .venv/bin/python bench/discovery_bench.py [--releases 10000] [--stage 1000] [--runs 5]
        [--against REV]

Prints medians: a cold scan (no discovery cache), an unchanged rescan (all readings
built, as `discover` does; then as `mamfast enqueue` scans when every release is
already finished: no reading built), and
staging N releases (hardlinks, names, partial folder + rename) into an empty
seed folder, then re-running staging on the finished folders (verification).
Files are tiny, so the figures measure mamfast's own overhead, not the disk.

--against REV (a git revision, e.g. main) also times the unchanged rescan of
that revision's code on the same library, each in its own process with its own
cache, rounds interleaved, and prints the ratio: on a shared machine compare
that ratio more than the absolute figures. `--stage 0` skips staging.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from revision import source_of  # bench/revision.py, beside this script

from mamfast.config import Settings
from mamfast.library.cache import CACHE_NAME
from mamfast.library.discovery import discover, scan_library
from mamfast.library.report import DiscoveryReport
from mamfast.release.naming.rules import load_rules
from mamfast.stages.staging import stage_release

LONG_AGO = time.time() - 86400


def generate(library: Path, count: int) -> None:
    """Authors with series and standalone books; a metadata dump, an m4b and a cover each."""
    for i in range(count):
        author = f"Author {i % 700:03d}"
        asin = f"B0{i:08d}"
        title = f"Book Title Number {i}"
        if i % 3:
            series = f"Series {i % 1500:04d}"
            folder = library / author / series / f"{title} vol_{i % 20 + 1:02d} [{asin}]"
            meta_series = [{"title": series, "sequence": str(i % 20 + 1)}]
        else:
            folder = library / author / f"{title} [{asin}]"
            meta_series = []
        folder.mkdir(parents=True)
        (folder / f"{title}.m4b").write_bytes(b"\0" * 64)
        (folder / "cover.jpg").write_bytes(b"\xff\xd8" * 8)
        meta = {
            "asin": asin,
            "title": title,
            "subtitle": "",
            "authors": [{"name": author}],
            "narrators": [{"name": "Narrator"}],
            "series": meta_series,
            "release_date": "2021-03-04",
            "publisher_name": "Publisher",
            "publisher_summary": "<p>" + "A summary sentence. " * 20 + "</p>",
            "language": "english",
            "runtime_length_min": 600,
        }
        (folder / f"{title}.metadata.json").write_text(json.dumps(meta))
    for dirpath, dirnames, filenames in os.walk(library):
        for name in [*dirnames, *filenames]:
            os.utime(Path(dirpath) / name, (LONG_AGO, LONG_AGO))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_of(runs: int, prepare: Callable[[], None], action: Callable[[], object]) -> float:
    samples = []
    for _ in range(runs):
        prepare()
        samples.append(timed(action))
    return statistics.median(samples)


# Run in a child process with PYTHONPATH at one revision's code: unchanged rescans, timed.
# A revision with `scan_library` scans as `mamfast enqueue` does when every release is
# already finished (the Redis question, one script call per 1,000 ASINs, is not timed here);
# an older one has only `discover`, which builds every release's reading.
RESCAN = """
import json, sys, time
from pathlib import Path
from mamfast.config import Settings
from mamfast.library import discovery
library, data, runs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
settings = Settings(_env_file=None, library_dir=library, data_dir=data, settle_seconds=0)
def rescan():
    if not hasattr(discovery, "scan_library"):
        return discovery.discover(settings)
    scan = discovery.scan_library(settings)
    return scan.report(set(scan.unchanged()))
discovery.discover(settings)  # fills this revision's cache
samples = []
for _ in range(runs):
    started, cpu = time.perf_counter(), time.process_time()
    report = rescan()
    samples.append((time.perf_counter() - started, time.process_time() - cpu))
assert report.stats.examined == 0, report.stats
import mamfast
print(json.dumps({"package": mamfast.__file__, "samples": samples}))
"""


def known_rescan(settings: Settings) -> DiscoveryReport:
    """An unchanged rescan as `mamfast enqueue` makes it when every release is finished."""
    scan = scan_library(settings)
    return scan.report(set(scan.unchanged()))


def rescans(source: Path, library: Path, data: Path, runs: int) -> list[tuple[float, float]]:
    # Run from `source`: `python -c` puts the working folder first on sys.path, before
    # PYTHONPATH, so run from the checkout both sides would time this tree's code.
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run(
        [sys.executable, "-c", RESCAN, str(library), str(data), str(runs)],
        env=env,
        cwd=source,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout)
    imported = Path(result["package"]).resolve()
    assert imported.is_relative_to(source.resolve()), f"timed {imported}, not {source}"
    return [(wall, cpu) for wall, cpu in result["samples"]]


def against(rev: str, work: Path, library: Path, runs: int) -> None:
    sources = {
        "this tree": Path(__file__).resolve().parent.parent,
        rev: source_of(rev, work / "peer"),
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in sources}
    for n in range(4):
        for name in sorted(sources, reverse=bool(n % 2)):
            data = work / f"data-{'peer' if name == rev else 'ours'}"
            samples[name] += rescans(sources[name], library, data, runs)
    for i, what in enumerate(("wall", "CPU")):
        ours, peer = (statistics.median(s[i] for s in samples[name]) for name in sources)
        print(
            f"unchanged scan ({what}), this tree: {ours:6.2f}s   {rev}: {peer:6.2f}s   "
            f"ratio {ours / peer:.2f}"
        )
    load = os.getloadavg()
    print(f"  (median of {4 * runs} per side; load average {load[0]:.2f} {load[1]:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--stage", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp one)")
    parser.add_argument("--against", default=None, help="git revision to compare the rescan with")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mamfast-bench-", dir=args.dir))
    try:
        library, data, seed = work / "library", work / "data", work / "seed"
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            library_dir=library,
            data_dir=data,
            seed_dir=seed,
            settle_seconds=0,
            ripper_tag="Bench",
        )
        print(f"generating {args.releases} releases in {library} ...", flush=True)
        print(f"  {timed(lambda: generate(library, args.releases)):.1f}s")

        cache = data / CACHE_NAME
        cold = median_of(
            args.runs, lambda: cache.unlink(missing_ok=True), lambda: discover(settings)
        )
        report = discover(settings)
        assert len(report.releases) == args.releases, (len(report.releases), report.rejects[:3])
        warm = median_of(args.runs, lambda: None, lambda: discover(settings))
        assert discover(settings).stats.from_cache == args.releases
        known = median_of(args.runs, lambda: None, lambda: known_rescan(settings))
        n = args.releases
        print(f"discovery, cold scan:      {cold:6.2f}s  {n / cold:8.0f} releases/s")
        print(f"discovery, unchanged scan: {warm:6.2f}s  {n / warm:8.0f} releases/s")
        print(f"  all releases finished:   {known:6.2f}s  {n / known:8.0f} releases/s (enqueue)")

        if args.against:
            against(args.against, work, library, args.runs)
        if not args.stage:
            return
        rules = load_rules()
        releases = [c.to_release() for c in report.releases[: args.stage]]

        def fresh_seed() -> None:
            shutil.rmtree(seed, ignore_errors=True)

        def stage_all() -> None:
            for release in releases:
                stage_release(settings, release, rules)

        staging = median_of(args.runs, fresh_seed, stage_all)
        verify = median_of(args.runs, lambda: None, stage_all)
        m = len(releases)
        print(f"staging {m} releases:       {staging:6.2f}s  {m / staging:8.0f} releases/s")
        print(f"re-staging (verify only):  {verify:6.2f}s  {m / verify:8.0f} releases/s")
        print(f"(median of {args.runs} runs; library on {work})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
