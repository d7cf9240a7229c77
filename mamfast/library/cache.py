"""The scan cache: what each book folder read as, until the folder changes.

Keyed by folder, checked against a signature of the folder's mtime, the
library boundary, the settings that change a reading, and every file's stamp
(size, mtime, inode; ctime for the metadata file: `walk.FileStamp`). A rescan
of an unchanged library therefore reads no metadata file. The cache only saves
time: a missing, unreadable or foreign cache file, or a damaged entry, is read
again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mamfast.fs.atomic import write_atomic
from mamfast.library.book import Candidate

CACHE_NAME = "discovery-cache.json"
CACHE_VERSION = 2  # 2: file stamps with inode and ctime


class CacheEntry(BaseModel):
    """One folder's reading: the release it becomes, or why it does not."""

    signature: str
    candidate: Candidate | None = None
    reject: str | None = None


class ScanCache:
    """Per-folder results keyed by a signature of the folder and its files' sizes and mtimes."""

    def __init__(self, path: Path, entries: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self.entries = entries
        self.changed = False

    @classmethod
    def load(cls, path: Path) -> ScanCache:
        try:
            raw = json.loads(path.read_text("utf-8"))
            if raw.get("version") == CACHE_VERSION and isinstance(raw.get("entries"), dict):
                return cls(path, raw["entries"])
        except (OSError, ValueError, AttributeError):
            pass  # no cache yet, or an unreadable one: a full scan rebuilds it
        return cls(path, {})

    def get(self, folder: str, signature: str) -> CacheEntry | None:
        raw = self.entries.get(folder)
        if not isinstance(raw, dict) or raw.get("signature") != signature:
            return None
        try:
            entry = CacheEntry.model_validate(raw)
        except ValueError:
            return None  # damaged: the folder is read again
        if entry.candidate is None and entry.reject is None:
            return None  # says nothing: read again rather than call the folder unusable
        return entry

    def put(self, folder: str, entry: CacheEntry) -> None:
        self.entries[folder] = entry.model_dump(mode="json", exclude_none=True)
        self.changed = True

    def keep_only(self, roots: Sequence[Path], seen: set[str]) -> None:
        """Forget folders under the scanned roots that this scan did not see."""
        prefixes = [str(root).rstrip(os.sep) + os.sep for root in roots]
        for folder in list(self.entries):
            inside = any(folder.startswith(p) or folder == p[:-1] for p in prefixes)
            if inside and folder not in seen:
                del self.entries[folder]
                self.changed = True

    def save(self) -> None:
        """Write the cache if it changed (atomically: a crash leaves the old one or the new)."""
        if not self.changed:
            return
        write_atomic(self.path, json.dumps({"version": CACHE_VERSION, "entries": self.entries}))
