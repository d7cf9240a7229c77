"""A stand-in for mkbrr's CLI (`create` only), for tests: mkbrr is not installable here.

It parses the flags mamfast passes (`create PATH -P NAME --preset-file F
--output-dir D --quiet --private=true -s SOURCE -l|-m EXP`), reads the
preset file like mkbrr (`version`, `default`, `presets.<name>`), picks the
piece size from mkbrr's table, builds the torrent with the real mktorrent,
names it `<tracker label>_<name>.torrent` and prints `Wrote: <path>`.

Environment knobs (the test sets them):
  FAKE_MKBRR_MOUNTS  "container=host,..." act like `docker run -v host:container`
  FAKE_MKBRR_SLEEP   seconds to hang before writing (timeouts, cancellation)
  FAKE_MKBRR_PIDFILE write our pid here first
  FAKE_MKBRR_ARGV    write our argv here (JSON)
  FAKE_MKBRR_EXIT    fail with this exit status and a message on stderr
  FAKE_MKBRR_PUBLIC  misbehave: write a public torrent whatever the flags say
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import bencodepy
import yaml

TABLE = [(64 << 20, 15), (128 << 20, 16), (256 << 20, 17), (512 << 20, 18), (1 << 30, 19)]
TABLE += [((1 << 30) << k, 20 + k) for k in range(1, 8)]


def mounts() -> list[tuple[str, str]]:
    pairs = [item.split("=", 1) for item in os.environ.get("FAKE_MKBRR_MOUNTS", "").split(",")]
    return [(c.rstrip("/"), h.rstrip("/")) for c, h in (p for p in pairs if len(p) == 2)]


def to_host(path: str) -> str:
    for container, host in mounts():
        if path == container or path.startswith(container + "/"):
            return host + path[len(container) :]
    if mounts():
        sys.exit(f"Error: {path}: no such file or directory (not mounted in the container)")
    return path


def to_container(path: str) -> str:
    for container, host in mounts():
        if path == host or path.startswith(host + "/"):
            return container + path[len(host) :]
    return path


def main() -> None:
    if pidfile := os.environ.get("FAKE_MKBRR_PIDFILE"):
        Path(pidfile).write_text(str(os.getpid()))
    if argv_file := os.environ.get("FAKE_MKBRR_ARGV"):
        Path(argv_file).write_text(json.dumps(sys.argv[1:]))
    if code := os.environ.get("FAKE_MKBRR_EXIT"):
        if code != "1":
            os._exit(int(code))
        sys.exit("Error: simulated failure: tracker https://t.example/tracker.php/SECRET1/announce")
    if sys.argv[1:] == ["version"]:
        print("mkbrr version: v1.0.0-stand-in")
        return
    parser = argparse.ArgumentParser(prog="mkbrr")
    parser.add_argument("command", choices=["create"])
    parser.add_argument("path")
    parser.add_argument("-P", "--preset", required=True)
    parser.add_argument("--preset-file")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--private", default=None)
    parser.add_argument("-s", "--source")
    parser.add_argument("-l", "--piece-length", type=int)
    parser.add_argument("-m", "--max-piece-length", type=int)
    args = parser.parse_args()

    preset_file = to_host(args.preset_file) if args.preset_file else "presets.yaml"
    doc = yaml.safe_load(Path(preset_file).read_text())
    opts = {"private": True, **(doc.get("default") or {}), **doc["presets"][args.preset]}
    if args.source is not None:
        opts["source"] = args.source
    if args.private is not None:  # a flag given on the command line beats the preset
        opts["private"] = args.private == "true"
    if os.environ.get("FAKE_MKBRR_PUBLIC"):
        opts["private"] = False
    content = Path(to_host(args.path))
    size = sum(p.stat().st_size for p in content.rglob("*") if p.is_file())
    exp = args.piece_length or next((e for limit, e in TABLE if size <= limit), 27)
    if args.piece_length is None:
        exp = min(exp, args.max_piece_length or 24)

    time.sleep(float(os.environ.get("FAKE_MKBRR_SLEEP", "0")))
    tracker = opts["trackers"][0]
    labels = (urlsplit(tracker).hostname or "").split(".")
    label = labels[-2] if len(labels) >= 2 else labels[0]
    out = Path(to_host(args.output_dir)) / f"{label}_{content.name}.torrent"
    cmd = ["mktorrent", "-l", str(exp), "-a", tracker, "-o", str(out), str(content)]
    if opts.get("private", True):
        cmd.insert(1, "-p")
    if opts.get("source"):
        cmd[1:1] = ["-s", opts["source"]]
    subprocess.run(cmd, check=True, capture_output=True)
    if opts.get("entropy"):
        meta = bencodepy.decode(out.read_bytes())
        meta[b"info"][b"entropy"] = os.urandom(32).hex().encode()
        out.write_bytes(bencodepy.encode(meta))
    print(f"Wrote: {to_container(str(out))}")


if __name__ == "__main__":
    main()
