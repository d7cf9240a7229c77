"""Which folders in the seed and torrent folders are mamfast's, and for which ASIN.

Two kinds of evidence, for two different uses:

* The staging ledger, `SEED_DIR/.mamfast/staged/<ASIN>.json`, lists every folder
  staging created for an ASIN. It is written before the folder is built, so a
  crash never leaves a folder of ours unlisted, and it lives outside the folder,
  because anything inside would be hashed into the torrent. It survives Redis
  losing its data, and it is the only proof `mamfast cleanup` accepts before
  deleting anything.
* The `{ASIN.X}` token in a folder name, which finds earlier work for an ASIN
  (a staged folder, a torrent) when the record is gone and today's name differs.
  It never justifies a delete: the old tool, and people, name folders the same way.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from mamfast.asin import valid_asin
from mamfast.config import Settings
from mamfast.errors import NotOursError
from mamfast.fs.atomic import write_atomic
from mamfast.fs.containment import in_seed
from mamfast.fs.owner import file_owner
from mamfast.release.naming.paths import staged_asin

log = logging.getLogger(__name__)

LEDGER_DIR = ".mamfast"  # hidden, in SEED_DIR; never a release folder
SUFFIX = ".json"


class LedgerEntry(BaseModel):
    asin: str
    folders: list[str] = Field(default_factory=list)  # names directly in SEED_DIR


def ledger_file(settings: Settings, asin: str) -> Path:
    if not valid_asin(asin):  # a name built from it must not become a path
        raise NotOursError(f"refusing a staging ledger for {asin!r}: it is not an ASIN")
    return in_seed(settings, settings.seed_folder / LEDGER_DIR / "staged" / f"{asin}{SUFFIX}")


def made(settings: Settings, asin: str) -> list[str]:
    """Names of the folders staging created for `asin` (some may be gone since)."""
    return _read(ledger_file(settings, asin)).folders


def has_ledger(settings: Settings, asin: str) -> bool:
    return ledger_file(settings, asin).is_file()


def add_made(settings: Settings, asin: str, folder: str) -> None:
    """Remember that staging creates `folder` for `asin` (call before creating it)."""
    path = ledger_file(settings, asin)
    entry = _read(path)
    if folder not in entry.folders:
        entry.folders.append(folder)
        _write(settings, path, entry)


def drop_made(settings: Settings, asin: str, folder: str) -> None:
    """Forget `folder` (it was deleted); the file goes when nothing is left in it."""
    path = ledger_file(settings, asin)
    entry = _read(path)
    if folder not in entry.folders:
        return
    entry.folders.remove(folder)
    if entry.folders:
        _write(settings, path, entry)
    else:
        path.unlink(missing_ok=True)


def all_made(settings: Settings) -> dict[str, list[str]]:
    """Every ASIN's ledger: ASIN -> folder names."""
    folder = settings.seed_folder / LEDGER_DIR / "staged"
    if not folder.is_dir():
        return {}
    found = {}
    for entry in os.scandir(folder):
        asin = entry.name.removesuffix(SUFFIX)
        if entry.name.endswith(SUFFIX) and valid_asin(asin) and entry.is_file():
            found[asin] = _read(Path(entry.path)).folders
    return found


def named_for(root: Path, asin: str) -> list[Path]:
    """Folders directly in `root` whose `{ASIN.X}` token names `asin` (never symlinks)."""
    if not root.is_dir():
        return []
    return sorted(
        Path(e.path)
        for e in os.scandir(root)
        if staged_asin(e.name) == asin and e.is_dir(follow_symlinks=False)
    )


def earlier_folders(settings: Settings, asin: str, today: str) -> list[Path]:
    """Folders staged for `asin` under another name than `today` (ledger first, then token)."""
    seed = settings.seed_folder
    listed = [seed / name for name in made(settings, asin)]
    found = [*listed, *named_for(seed, asin)]
    unique = dict.fromkeys(p for p in found if p.name != today)
    return [p for p in unique if p.is_dir() and not p.is_symlink()]


def earlier_torrents(settings: Settings, asin: str) -> list[Path]:
    """Torrent files in TORRENT_DIR whose folder's `{ASIN.X}` token names `asin`."""
    found = (
        folder / f"{folder.name}.torrent" for folder in named_for(settings.torrent_folder, asin)
    )
    return [path for path in found if path.is_file()]


def _write(settings: Settings, path: Path, entry: LedgerEntry) -> None:
    # Written under the release lock (staging, clean-up): no other writer can be running,
    # so a temp file left by a killed earlier write is removed at once.
    write_atomic(path, entry.model_dump_json(indent=1), owner=file_owner(settings), stale_after=0)


def _read(path: Path) -> LedgerEntry:
    asin = path.name.removesuffix(SUFFIX)
    try:
        entry = LedgerEntry.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return LedgerEntry(asin=asin)
    except (OSError, ValidationError) as exc:
        # Losing the proof only means clean-up keeps those folders; say so and go on.
        log.warning("cannot read the staging ledger %s (%s); treating it as empty", path, exc)
        return LedgerEntry(asin=asin)
    entry.folders = [name for name in entry.folders if name and "/" not in name and name != ".."]
    return entry
