"""Audiobook-like folders for torrent tests, and the real mktorrent as the reference."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from mamfast.torrents import read_torrent

ANNOUNCE = "https://t.example.net/tracker.php/PASSKEY0123456789/announce"
MKTORRENT = shutil.which("mktorrent")


def write(path: Path, size: int, *, seed: int | None = None) -> Path:
    """A file of `size` pseudo-random bytes (seeded, so runs are reproducible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed if seed is not None else f"{path.name}:{size}")
    path.write_bytes(rng.randbytes(size))
    return path


def book(root: Path, name: str = "Author - Book {ASIN.B0TEST0001}", parts: int = 3) -> Path:
    """A staged release: uneven `Part NN.m4b` files plus a cover."""
    folder = root / name
    for i in range(1, parts + 1):
        write(folder / f"Part {i:02d}.m4b", 150_001 * i + 7 * i * i)
    write(folder / "cover.jpg", 15_360)
    return folder


def tree(folder: Path, files: Iterable[tuple[str, int]]) -> Path:
    for rel, size in files:
        write(folder / rel, size)
    return folder


def mktorrent_infohash(path: Path, exp: int, *, source: str | None = "MAM") -> str:
    """The infohash mktorrent (Debian's 1.1) gives `path` at piece length 2^exp."""
    assert MKTORRENT, "mktorrent is not installed (apt-get install mktorrent)"
    out = path.parent / f".mktorrent-{os.getpid()}.torrent"
    out.unlink(missing_ok=True)
    argv = [MKTORRENT, "-l", str(exp), "-p", "-a", ANNOUNCE, "-o", str(out), "-t", "2"]
    if source:
        argv += ["-s", source]
    subprocess.run([*argv, str(path)], check=True, capture_output=True)
    try:
        return read_torrent(out).infohash
    finally:
        out.unlink()
