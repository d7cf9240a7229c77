"""The run lock: one `mamfast run` per data directory.

A kernel file lock (flock) on `<data dir>/mamfast.lock`: the kernel releases
it when the process dies, however it dies, so a crash never leaves a stale
lock behind. The file records who holds it, for the message a second run gets.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from mamfast.engine import keys
from mamfast.errors import MamfastError


class RunLockedError(MamfastError):
    """Another `mamfast run` uses this data directory."""


def lock_path(data_dir: Path) -> Path:
    return data_dir / "mamfast.lock"


@contextlib.contextmanager
def run_lock(data_dir: Path) -> Iterator[Path]:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(data_dir)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(_message(path)) from None
        os.ftruncate(fd, 0)
        holder = {"host": keys.hostname(), "pid": os.getpid(), "since": time.time()}
        os.write(fd, json.dumps(holder).encode())
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _message(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        since = datetime.fromtimestamp(float(holder["since"]), UTC)
        who = f"pid {holder['pid']} on {holder['host']} since {since:%Y-%m-%d %H:%M:%S} UTC"
    except (OSError, ValueError, KeyError, TypeError):
        who = "another process"
    return (
        f"Another mamfast run is already using this data directory ({who}).\n"
        f"Lock file: {path}\n\n"
        "Wait for it to finish, or stop it (Ctrl-C or `kill <pid>`): its jobs go back to "
        "the queue and the next run picks them up. The lock is a kernel lock, so it "
        "disappears by itself when that process ends; there is nothing to delete."
    )
