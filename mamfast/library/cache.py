"""The scan cache: what each book folder read as, until the folder changes.

Keyed by folder, checked against a signature of the folder's mtime, the
library boundary, the settings that change a reading, and every file's stamp
(size, mtime, inode; ctime for the metadata file: `walk.FileStamp`). A rescan
of an unchanged library therefore reads no metadata file. The cache only saves
time: a missing, unreadable or foreign cache file, or a damaged entry, is read
again.

An entry keeps the release's ASIN and title beside its reading, and the reading
as one JSON string: loading the cache then builds a few objects per folder, and
a reading is only validated when it is used (a scan that skips the folders whose
release is already finished never builds theirs).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mamfast.fs.atomic import write_atomic
from mamfast.library.book import Candidate

CACHE_NAME = "discovery-cache.json"
CACHE_VERSION = 3  # 2: file stamps with inode and ctime; 3: ASIN beside a JSON-string reading


def signature_of(text: str) -> str:
    """The stored form of a folder's signature: short, so the cache loads fast."""
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class CachedReading:
    """One folder's cached outcome: a release (its ASIN, title, reading) or a reject."""

    asin: str | None = None
    title: str = ""
    reading: str | None = None  # the Candidate as JSON, validated by `candidate()`
    reject: str | None = None

    def candidate(self) -> Candidate | None:
        """The release read from the cache; None when the entry is damaged (read again)."""
        if self.reading is None:
            return None
        try:
            candidate = Candidate.model_validate_json(self.reading)
        except ValidationError:
            return None
        return candidate if candidate.asin == self.asin else None


class ScanCache:
    """Per-folder results keyed by a signature of the folder and its files' sizes and mtimes."""

    def __init__(self, path: Path, entries: dict[str, Any]) -> None:
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

    def get(self, folder: str, signature: str) -> CachedReading | None:
        """The folder's cached outcome if its signature still matches and the entry is whole."""
        raw = self.entries.get(folder)
        if not isinstance(raw, dict) or raw.get("signature") != signature:
            return None
        reject, asin, title, reading = (raw.get(k) for k in ("reject", "asin", "title", "reading"))
        if isinstance(reject, str):
            return CachedReading(reject=reject)
        if isinstance(asin, str) and isinstance(title, str) and isinstance(reading, str):
            return CachedReading(asin=asin, title=title, reading=reading)
        return None  # damaged or says nothing: read again rather than call the folder unusable

    def put(self, folder: str, signature: str, outcome: Candidate | str) -> None:
        """Remember a folder's reading (a Candidate) or why it is no release (a str)."""
        if isinstance(outcome, str):
            self.entries[folder] = {"signature": signature, "reject": outcome}
        else:
            self.entries[folder] = {
                "signature": signature,
                "asin": outcome.asin,
                "title": outcome.book.title,
                "reading": outcome.model_dump_json(),
            }
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
