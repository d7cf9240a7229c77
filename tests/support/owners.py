"""Files owned by other users, for tests that run as root and must be refused like them."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def free_ids(count: int, start: int = 4242) -> list[int]:
    """Ids that name no user and no group here, so nothing else owns their files."""
    found: list[int] = []
    candidate = start
    while len(found) < count:
        try:
            pwd.getpwuid(candidate)
        except KeyError:
            try:
                grp.getgrgid(candidate)
            except KeyError:
                found.append(candidate)
        candidate += 1
    return found


def chown_tree(root: Path, uid: int, gid: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, uid, gid, follow_symlinks=False)


def owners(paths: list[Path]) -> set[tuple[int, int]]:
    return {(p.lstat().st_uid, p.lstat().st_gid) for p in paths}


@contextlib.contextmanager
def shared_folder(prefix: str) -> Iterator[Path]:
    """A temp folder other users can enter (pytest's own tmp is private to its user)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
