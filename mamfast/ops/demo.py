"""`mamfast demo`: a small Libation-shaped library to see the whole pipeline work.

Built from tiny audio files shipped in the package: a series book in three
mp3 parts, a standalone m4b, a book by a Japanese author (romanised in the
JSON and description, not in folder names), and one broken folder (audio but
no ASIN anywhere) that the scan reports instead of processing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any

SAMPLES = resources.files("mamfast") / "data" / "demo"


def _copy(name: str, dest: Path) -> None:
    with resources.as_file(SAMPLES / name) as source:
        shutil.copyfile(source, dest)


def _metadata(folder: Path, stem: str, data: dict[str, Any]) -> None:
    # Libation's dump of the Audible product record (the keys discovery reads).
    (folder / f"{stem}.metadata.json").write_text(json.dumps(data, ensure_ascii=False, indent=2))


BOOKS: list[dict[str, Any]] = [
    {
        "dir": "Shirtaloon/He Who Fights with Monsters/He Who Fights with Monsters vol_01 (2021) "
        "(Shirtaloon) {ASIN.B0DEMO0001}",
        "parts": 3,
        "meta": {
            "asin": "B0DEMO0001",
            "title": "He Who Fights with Monsters: A LitRPG Adventure",
            "authors": [{"name": "Shirtaloon"}, {"name": "Travis Deverell"}],
            "narrators": [{"name": "Heath Miller"}],
            "series": [{"title": "He Who Fights with Monsters", "sequence": "1"}],
            "release_date": "2021-03-02",
            "publisher_name": "Podium Audio",
            "language": "english",
            "runtime_length_min": 1,
            "publisher_summary": "<p>Jason wakes up in a world of <b>magic</b>.</p>",
        },
    },
    {
        "dir": "Andy Weir/Project Hail Mary (2021) (Andy Weir) {ASIN.B0DEMO0002}",
        "parts": 1,
        "meta": {
            "asin": "B0DEMO0002",
            "title": "Project Hail Mary",
            "authors": [{"name": "Andy Weir"}],
            "narrators": [{"name": "Ray Porter"}],
            "release_date": "2021-05-04",
            "publisher_name": "Audible Studios",
            "language": "english",
            "runtime_length_min": 1,
            "publisher_summary": "<p>A lone astronaut must save the earth.</p>",
        },
    },
    {
        "dir": "理不尽な孫の手/Mushoku Tensei/Mushoku Tensei vol_01 (2019) {ASIN.B0DEMO0003}",
        "parts": 1,
        "meta": {
            "asin": "B0DEMO0003",
            "title": "Mushoku Tensei: Jobless Reincarnation (Light Novel), Vol. 1",
            "authors": [{"name": "理不尽な孫の手"}],
            "narrators": [{"name": "Cliff Kirk"}],
            "series": [
                {"title": "Mushoku Tensei: Jobless Reincarnation (Light Novel)", "sequence": "1"}
            ],
            "release_date": "2019-05-21",
            "publisher_name": "Seven Seas Siren",
            "language": "english",
            "runtime_length_min": 1,
            "publisher_summary": "<p>A man is reborn in a world of swords and sorcery.</p>",
        },
    },
]


def write_demo_library(root: Path) -> list[Path]:
    """Write the sample library under `root`; returns the book folders written."""
    written = []
    for book in BOOKS:
        folder = root / book["dir"]
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder.name
        if book["parts"] == 1:
            _copy("book.m4b", folder / f"{stem}.m4b")
        else:
            for part in range(1, book["parts"] + 1):
                _copy("part.mp3", folder / f"{stem} - Part {part:02d}.mp3")
        _copy("cover.jpg", folder / "cover.jpg")
        _metadata(folder, stem, book["meta"])
        written.append(folder)
    broken = root / "Unknown Author" / "A Book Without An ASIN"
    broken.mkdir(parents=True, exist_ok=True)
    _copy("book.m4b", broken / "A Book Without An ASIN.m4b")
    written.append(broken)
    _age(root, SETTLED_AGE)
    return written


SETTLED_AGE = 24 * 3600


def _age(root: Path, seconds: float) -> None:
    """Date the sample a day back: a scan skips folders Libation may still be writing."""
    past = time.time() - seconds
    for path in [root, *root.rglob("*")]:
        os.utime(path, (past, past))
