"""Benchmark: how long `mamfast` takes to start, against a bare interpreter in the same run.

    .venv/bin/python bench/cli_startup.py [--rounds 21]

Interleaved rounds (the order rotates every round) of, each a fresh process:

* `python -c pass`: the interpreter alone (site, the editable-install finder);
* `mamfast --help`;
* `mamfast torrent create` on a 4 KiB folder (one file), written to a temp dir;
* the floor: Typer, asyncio and a one-field pydantic-settings model, validated
  (what any command that reads settings loads at least);

prints the median wall time of each and what each command adds to the bare
interpreter. Targets (printed, never enforced): --help <= 0.12 s, torrent
create <= 0.15 s. `--against REV` also runs both commands with the `mamfast`
package of that git revision (same interpreter and installed libraries) in the
same rounds, and prints the ratio. The load average is printed: on a shared machine compare the
"added" column more than absolute times. `python -X importtime -c 'import
mamfast.cli.app'` shows where the import time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from revision import source_of  # bench/revision.py, beside this script

TARGETS = {"mamfast --help": 0.12, "mamfast torrent create (4 KiB)": 0.15}


FLOOR = """
import asyncio, typer.main, pydantic_settings
class One(pydantic_settings.BaseSettings):
    announce_url: str = ""
One()
"""


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--against", default=None, help="git revision to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mamfast-startup-") as tmp:
        root = Path(tmp)
        book = root / "Tiny Book"
        book.mkdir()
        (book / "Tiny Book.m4b").write_bytes(os.urandom(4096))
        # An installed package has its .pyc files (pip compiles them); with
        # PYTHONDONTWRITEBYTECODE set, every run would compile mamfast from source.
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "MAMFAST_DATA_DIR": str(root / "data"),
            "MAMFAST_ANNOUNCE_URL": "http://127.0.0.1:9/announce/0123456789abcdef",
        }
        python = sys.executable
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "mamfast --help": [python, "-m", "mamfast", "--help"],
            "mamfast torrent create (4 KiB)": [
                python,
                "-m",
                "mamfast",
                "torrent",
                "create",
                str(book),
                "-o",
                str(root / "out.torrent"),
                "--json",
            ],
        }
        # The libraries' own floor: the command tree's framework plus one validated
        # pydantic-settings model, the least a command that reads settings can load.
        commands["floor: typer + 1-field BaseSettings"] = [python, "-c", FLOOR]
        if args.against:
            peer = source_of(args.against, root / "peer")
            for name in TARGETS:
                # `-P`-free: PYTHONPATH puts the peer's package before the installed one.
                commands[f"{name} @ {args.against}"] = ["env", f"PYTHONPATH={peer}"] + commands[
                    name
                ]
        samples: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for name in names:  # warm-up: page cache, .pyc files
            timed(commands[name], env, root)
        for n in range(args.rounds):
            for name in names[n % len(names) :] + names[: n % len(names)]:
                samples[name].append(timed(commands[name], env, root))
    load = os.getloadavg()
    print(f"{args.rounds} rounds, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    bare = statistics.median(samples["python -c pass"])
    for name in names:
        median = statistics.median(samples[name])
        target = TARGETS.get(name)
        goal = f"  target <= {target:.2f} s" if target else ""
        if args.against and name in TARGETS:
            peer_median = statistics.median(samples[f"{name} @ {args.against}"])
            goal += f"  ratio to {args.against} {median / peer_median:.2f}"
        print(f"{name:44s} {median:6.3f} s  added {median - bare:6.3f} s{goal}")
    floor = statistics.median(samples["floor: typer + 1-field BaseSettings"])
    create = statistics.median(samples["mamfast torrent create (4 KiB)"])
    print(f"torrent create above the floor (mamfast's own share): {create - floor:.3f} s")


if __name__ == "__main__":
    main()
