"""Build Libation-shaped library trees for tests (tiny files, real layout)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
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


def age(root: Path, when: float = AN_HOUR_AGO) -> None:
    """Make everything under root look settled (written long ago)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*filenames, *dirnames]:
            os.utime(Path(dirpath) / name, (when, when), follow_symlinks=False)
    os.utime(root, (when, when))


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under root with (mode, size, mtime_ns), to prove nothing was written."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = Path(dirpath) / name
            stat = path.lstat()
            state[str(path)] = (stat.st_mode, stat.st_size, stat.st_mtime_ns)
    return state
