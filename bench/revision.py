"""The code of another git revision, for the benches' `--against REV` peer runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def source_of(rev: str, dest: Path, packages: tuple[str, ...] = ("mamfast", "workers")) -> Path:
    """`packages` as they are at `rev`, extracted under dest (put dest on PYTHONPATH, and
    run from it: `python -c` puts the working folder first on sys.path)."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, *packages], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest
