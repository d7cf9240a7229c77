"""Build Libation-shaped library trees for tests (tiny files, real layout)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Collection
from pathlib import Path
from stat import S_ISLNK, S_ISREG
from typing import Any

AN_HOUR_AGO = time.time() - 3600


def book(
    folder: Path,
    files: dict[str, bytes | str] | list[str],
    *,
    metadata: dict[str, Any] | str | None = None,
    metadata_name: str | None = None,
) -> Path:
    """A book folder with the given files (name -> content) and an optional metadata dump."""
    folder.mkdir(parents=True, exist_ok=True)
    items = files if isinstance(files, dict) else {name: f"audio {name}" for name in files}
    for name, content in items.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    if metadata is not None:
        name = metadata_name or f"{folder.name[:40]}.metadata.json"
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def audible(
    asin: str,
    title: str,
    *,
    authors: list[str],
    series: tuple[str, str] | None = None,
    subtitle: str = "",
    narrators: list[str] | None = None,
    release_date: str = "2020-05-01",
) -> dict[str, Any]:
    """The fields Libation's *.metadata.json (an Audible catalogue item) carries."""
    item: dict[str, Any] = {
        "asin": asin,
        "title": title,
        "subtitle": subtitle,
        "authors": [{"asin": None, "name": a} for a in authors],
        "narrators": [{"name": n} for n in narrators or ["A Narrator"]],
        "release_date": release_date,
        "publisher_name": "Podium Audio",
        "publisher_summary": "<p>A summary.</p>",
        "language": "english",
        "runtime_length_min": 600,
    }
    if series:
        item["series"] = [{"asin": "B0SERIES00", "title": series[0], "sequence": series[1]}]
    return item


WAY_OF_KINGS = "Brandon Sanderson/The Stormlight Archive/The Way of Kings"


def way_of_kings() -> dict[str, Any]:
    """Libation's dump for a series book used across the discovery, staging and torrent tests."""
    return audible(
        "B003ZWFO7E",
        "The Way of Kings",
        authors=["Brandon Sanderson"],
        series=("The Stormlight Archive", "1"),
        release_date="2010-08-31",
    )


SAMPLE_M4B = Path(__file__).resolve().parents[2] / "mamfast" / "data" / "demo" / "book.m4b"


def padded_books(
    library: Path,
    asins: list[str],
    rng: random.Random,
    *,
    parts: tuple[int, int] = (1, 3),
    pad_bytes: tuple[int, int] = (1 << 18, 2 << 20),
) -> list[Path]:
    """Real (tiny) m4b books, each part padded with random bytes so it hashes for a while.

    `rng` picks the part counts and sizes, so a seed gives the same library shape.
    """
    sample = SAMPLE_M4B.read_bytes()
    folders = []
    for i, asin in enumerate(asins):
        files: dict[str, bytes | str] = {
            f"Book {i} - Part {p:02d}.m4b": sample + os.urandom(rng.randint(*pad_bytes))
            for p in range(1, rng.randint(*parts) + 1)
        }
        files["cover.jpg"] = os.urandom(2000)
        folders.append(
            book(
                library / f"Author {i % 50}" / f"Book {i} {{ASIN.{asin}}}",
                files,
                metadata=audible(asin, f"Book {i}", authors=[f"Author {i % 50}"]),
            )
        )
    return folders


def tiny_books(root: Path, count: int, *, prefix: str, authors: int = 5) -> None:
    """`count` tiny, valid, distinct books (the demo sample plus a counter), settled an hour
    ago. ASINs are `prefix` followed by the zero-padded number, ten characters in all."""
    sample, cover = SAMPLE_M4B.read_bytes(), SAMPLE_M4B.with_name("cover.jpg").read_bytes()
    width = 10 - len(prefix)
    for i in range(count):
        asin = f"{prefix}{i:0{width}d}"
        author = f"Author {i % authors}"
        folder = root / author / f"Book {i} (2020) ({author}) {{ASIN.{asin}}}"
        folder.mkdir(parents=True)
        (folder / f"{folder.name}.m4b").write_bytes(sample + i.to_bytes(4, "big"))
        (folder / "cover.jpg").write_bytes(cover)
        meta = {
            "asin": asin,
            "title": f"Book {i}",
            "authors": [{"name": author}],
            "narrators": [{"name": "Narrator"}],
            "release_date": "2020-01-01",
            "language": "english",
        }
        (folder / f"{folder.name}.metadata.json").write_text(json.dumps(meta))
    age(root)


def age(root: Path, when: float = AN_HOUR_AGO) -> None:
    """Make everything under root look settled (written long ago)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*filenames, *dirnames]:
            os.utime(Path(dirpath) / name, (when, when), follow_symlinks=False)
    os.utime(root, (when, when))


def snapshot(root: Path, *, skip: Collection[Path] = ()) -> dict[str, tuple[object, ...]]:
    """Every path under root, to prove nothing was written, replaced, renamed or chmodded.

    Per path: type, mode, owner, inode, size, mtime and a digest of the content (a
    symlink: its target). Link counts and ctimes are left out on purpose: hardlinking
    a library file into the seed folder changes both without touching the file.
    Folders in `skip` (mamfast's own) are not descended into.
    """
    skipped = {str(p) for p in skip}
    state: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if str(Path(dirpath) / d) not in skipped]
        for name in [".", *dirnames, *filenames]:
            path = Path(dirpath) / name
            stat = path.lstat()
            state[str(path)] = (
                stat.st_mode,
                stat.st_uid,
                stat.st_gid,
                stat.st_ino,
                stat.st_size,
                stat.st_mtime_ns,
                _content_digest(path, stat.st_mode),
            )
    return state


def _content_digest(path: Path, mode: int) -> str:
    if S_ISLNK(mode):
        return "-> " + os.readlink(path)
    if not S_ISREG(mode):
        return ""
    digest = hashlib.blake2b(digest_size=16)
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except PermissionError:  # a test made it unreadable on purpose (and runs unprivileged)
        return "unreadable"
    return digest.hexdigest()


def seed_entries(seed: Path) -> list[Path]:
    """What a seed folder holds besides mamfast's own ledger of what it staged, sorted."""
    from mamfast.stages import ledger as ownership

    if not seed.exists():
        return []
    return sorted(p for p in seed.iterdir() if p.name != ownership.LEDGER_DIR)
