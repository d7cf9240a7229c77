"""Hash turns per disk: large releases on one device hash one at a time, small ones overlap."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mamfast.errors import TransientError
from mamfast.torrents import create_torrent
from mamfast.torrents.disk import DiskTurns
from tests.support.torrent_data import ANNOUNCE, book

BIG = 10_000  # the tests' "large release": the rule is the same at 1 GiB


async def hold(turns: DiskTurns, path: Path, size: int, log: list[tuple[float, float]]) -> bool:
    async with turns.turn(path, size) as taken:
        started = time.monotonic()
        await asyncio.sleep(0.3)
        log.append((started, time.monotonic()))
    return taken


def overlapping(spans: list[tuple[float, float]]) -> bool:
    (_, first_end), (second_start, _) = sorted(spans)
    return second_start < first_end


async def test_two_large_releases_on_one_device_hash_one_after_the_other(tmp_path):
    folder = tmp_path / "seed"
    folder.mkdir()
    # Two workers: two DiskTurns over the same folder, as two processes would have.
    first, second = (DiskTurns(tmp_path / "turns", big=BIG, poll=0.01) for _ in range(2))
    log: list[tuple[float, float]] = []
    taken = await asyncio.gather(hold(first, folder, BIG, log), hold(second, folder, BIG * 5, log))
    assert taken == [True, True]
    assert not overlapping(log)


async def test_small_releases_overlap(tmp_path):
    folder = tmp_path / "seed"
    folder.mkdir()
    turns = DiskTurns(tmp_path / "turns", big=BIG, poll=0.01)
    log: list[tuple[float, float]] = []
    taken = await asyncio.gather(
        hold(turns, folder, BIG - 1, log), hold(turns, folder, BIG - 1, log)
    )
    assert taken == [False, False]
    assert overlapping(log)
    assert not (tmp_path / "turns").exists()  # a small release never touches the lock


async def test_a_small_release_does_not_wait_for_a_large_one(tmp_path):
    folder = tmp_path / "seed"
    folder.mkdir()
    turns = DiskTurns(tmp_path / "turns", big=BIG, poll=0.01)
    log: list[tuple[float, float]] = []
    await asyncio.gather(hold(turns, folder, BIG, log), hold(turns, folder, 1, log))
    assert overlapping(log)


HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


async def test_the_turn_holds_across_processes_and_a_killed_holder_frees_it(tmp_path):
    folder = tmp_path / "seed"
    folder.mkdir()
    turns = DiskTurns(tmp_path / "turns", big=BIG, poll=0.01)
    (tmp_path / "turns").mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(turns.lock_path(folder))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        waiting = asyncio.create_task(hold(turns, folder, BIG, []))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # another process reads this disk
        os.kill(child.pid, signal.SIGKILL)  # dies mid-hash: the kernel drops its lock
        assert await asyncio.wait_for(waiting, 5) is True
    finally:
        child.kill()
        child.wait()


async def test_waiting_for_a_turn_stops_when_the_job_is_cancelled(tmp_path):
    folder = tmp_path / "seed"
    folder.mkdir()
    turns = DiskTurns(tmp_path / "turns", big=BIG, poll=0.01)
    holder = asyncio.create_task(hold(turns, folder, BIG, []))
    await asyncio.sleep(0.05)
    waiter = asyncio.create_task(hold(turns, folder, BIG, []))
    await asyncio.sleep(0.05)
    waiter.cancel()
    done, _ = await asyncio.wait([waiter], timeout=1)
    assert done and waiter.cancelled()
    assert await holder is True


async def test_create_torrent_waits_for_the_disk_and_gives_the_same_infohash(tmp_path):
    folder = book(tmp_path)
    turns = DiskTurns(tmp_path / "turns", big=1, poll=0.01)
    with ThreadPoolExecutor(2) as pool:

        async def make(disk_turns: DiskTurns | None) -> str:
            made = await create_torrent(
                folder,
                source="MAM",
                announce=ANNOUNCE,
                piece_exp=16,
                executor=pool,
                disk_turns=disk_turns,
            )
            return made.infohash

        plain = await make(None)
        async with turns.turn(folder, 1):  # another large release reads this disk
            waiting = asyncio.create_task(make(DiskTurns(tmp_path / "turns", big=1)))
            await asyncio.sleep(0.5)
            assert not waiting.done()
        assert await asyncio.wait_for(waiting, 10) == plain


async def test_a_lock_folder_that_cannot_be_made_is_told_in_words(tmp_path):
    folder = tmp_path / "seed"
    folder.mkdir()
    (tmp_path / "data").write_text("a file where the data dir should be")
    turns = DiskTurns(tmp_path / "data" / "disk-turns", big=BIG, poll=0.01)
    with pytest.raises(TransientError, match=r"cannot create .*device-.*\.lock") as caught:
        async with turns.turn(folder, BIG):
            pass
    assert caught.value.hint and "data dir" in caught.value.hint
    async with turns.turn(folder, 1) as taken:  # a small release needs no lock at all
        assert taken is False
