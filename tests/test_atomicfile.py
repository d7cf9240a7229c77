"""Atomic writes: a writer killed mid-write leaves the old file or none, never a partial one."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mamfast.errors import DiskFullError
from mamfast.fs.atomic import write_atomic

# A child that writes a large JSON atomically but freezes before the rename.
CHILD = """
import os, sys, time
from pathlib import Path
from mamfast.fs import atomic as atomicfile
target, ready = Path(sys.argv[1]), Path(sys.argv[2])
def stuck(fd):
    ready.write_text("1")
    time.sleep(600)
os.fsync = stuck
atomicfile.write_atomic(target, '{"title": "new", "pad": "' + "x" * 5_000_000 + '"}')
"""


def kill_mid_write(target: Path, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(target), str(ready)])
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, "writer exited early"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()


def test_kill_mid_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out" / "book.json"
    kill_mid_write(target, tmp_path)
    assert not target.exists()  # first write: nothing, rather than half a JSON
    leftovers = list(target.parent.glob(".book.json.*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0


def test_kill_mid_rewrite_keeps_the_old_file_and_next_write_cleans_up(tmp_path):
    target = tmp_path / "book.json"
    write_atomic(target, '{"title": "old"}')
    kill_mid_write(target, tmp_path)
    assert json.loads(target.read_text()) == {"title": "old"}
    (leftover,) = tmp_path.glob(".book.json.*.tmp")
    os.utime(leftover, (time.time() - 3600, time.time() - 3600))  # an old crash
    write_atomic(target, '{"title": "newer"}')
    assert json.loads(target.read_text()) == {"title": "newer"}
    assert list(tmp_path.glob(".book.json.*.tmp")) == []


def test_write_atomic_replaces_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "c.txt"
    write_atomic(target, "one")
    write_atomic(target, b"two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["c.txt"]


def test_a_sole_writer_removes_a_fresh_temp_file_at_once(tmp_path):
    target = tmp_path / "ledger.json"
    kill_mid_write(target, tmp_path)  # seconds ago: a shared writer would leave it alone
    write_atomic(target, "{}")
    assert len(list(tmp_path.glob(".ledger.json.*.tmp"))) == 1
    write_atomic(target, "{}", stale_after=0)  # the caller holds the lock: no one else writes
    assert list(tmp_path.glob(".ledger.json.*.tmp")) == []


def test_a_full_disk_is_said_plainly_and_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "out" / "book.json"
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        if len(data) > 10:
            return real_write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(DiskFullError, match=f"no space left on the disk holding {target.parent}"):
        write_atomic(target, "x" * 100)
    assert list(target.parent.iterdir()) == []
