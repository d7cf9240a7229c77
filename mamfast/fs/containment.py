"""Prove a path is ours before creating, renaming or deleting it.

mamfast writes only inside MAMFAST_SEED_DIR and MAMFAST_TORRENT_DIR. Every
path a stage or command is about to create, rename or delete passes through
here first, because paths come from places a stranger can edit: a release
record in Redis, a state file being imported, a folder name. The check
resolves every folder on the way (so a symlinked folder cannot lead out) but
not the last name itself: the operation acts on that entry, and the callers
never follow it (a symlink there is removed or replaced, not entered).
"""

from __future__ import annotations

from pathlib import Path

from mamfast.config import Settings
from mamfast.errors import NotOursError

HINT = (
    "mamfast only creates, renames and deletes inside MAMFAST_SEED_DIR and "
    "MAMFAST_TORRENT_DIR; check the release record (`mamfast status ASIN`) and those settings"
)


def inside(path: Path, root: Path, setting: str) -> Path:
    """`path` with its folders resolved, if it lies strictly inside `root`; else NotOursError."""
    base = root.resolve()
    last = path.name in ("", ".", "..")  # a name that is no entry of its own: resolve all
    real = path.resolve() if last else path.parent.resolve() / path.name
    if real == base:
        raise NotOursError(f"refusing to touch {path}: it is {setting} itself", hint=HINT)
    if not real.is_relative_to(base):
        resolved = "" if real == path else f" once resolved ({real})"
        raise NotOursError(
            f"refusing to touch {path}: it is outside {setting} ({root}){resolved}", hint=HINT
        )
    return real


def in_seed(settings: Settings, path: Path) -> Path:
    return inside(path, settings.seed_folder, "MAMFAST_SEED_DIR")


def in_torrent_dir(settings: Settings, path: Path) -> Path:
    return inside(path, settings.torrent_folder, "MAMFAST_TORRENT_DIR")
