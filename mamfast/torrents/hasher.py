"""Parallel SHA-1 of the piece stream ("pull batches").

The files, in torrent order, form one byte stream cut into pieces; pieces
cross file boundaries. Worker threads pull batches of adjacent pieces (about
4 MiB) from a shared counter, so every thread reads near the others (close to
sequential I/O on a disk or NAS) and the tail stays balanced. Each thread owns
its file descriptors and one reusable buffer; it reads a chunk of the stream
with `os.preadv` straight into the buffer and feeds memoryview slices to
`hashlib`. Both calls release the GIL, so threads scale across cores without
processes, and nothing is ever concatenated: a piece that spans chunks or
files is streamed into one `sha1` object. Memory is one chunk per thread
whatever the content size.

Why not `mmap` (hashing memoryview slices of the mapped file, no copy): it saves
the copy into the buffer, about 12 % of the CPU time on warm data on a local
disk (`bench/torrent_bench.py`, "limit: mmap + SHA-1"). But a mapped file that
is truncated while being hashed (Libation rewriting a book in place: the staged
hardlink is the same inode) raises SIGBUS inside hashlib, which kills the worker
process with no message; `preadv` sees the short read and reports "changed
while being hashed", and the job retries. A crash that says nothing is not
worth 12 %.

The event loop only polls per-thread byte counters for progress; a
`threading.Event` checked between chunks stops the threads promptly when the
job is cancelled, and `hash_pieces` returns only after every thread has
stopped, so nothing keeps reading behind the caller's back.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mamfast.errors import TorrentError, TransientError
from mamfast.torrents.pieces import piece_count

CHUNK = 1 << 20  # read size; measured best on 2 cores (256 KiB-4 MiB are within 8 %)
BATCH = 4 << 20  # bytes of adjacent pieces handed to a thread at a time
POLL_SECONDS = 0.2
MAX_OPEN_FILES = 16  # per thread; audiobooks have a few dozen files at most
DIGEST = 20

Progress = Callable[[int, int], Awaitable[None]]


class HashSource(Protocol):
    """A file of the piece stream (`files.ContentFile` is one)."""

    @property
    def path(self) -> Path: ...

    @property
    def length(self) -> int: ...


@dataclass(frozen=True)
class PieceHashes:
    digests: bytes  # 20 bytes per piece, in order
    unreadable: frozenset[int]  # (lenient mode) indexes of files missing or short on disk

    def digest(self, index: int) -> bytes:
        return self.digests[index * DIGEST : (index + 1) * DIGEST]


def default_workers() -> int:
    return os.cpu_count() or 2


async def hash_pieces(
    files: Sequence[HashSource],
    piece_length: int,
    *,
    executor: Executor,
    workers: int | None = None,
    progress: Progress | None = None,
    strict: bool = True,
) -> PieceHashes:
    """SHA-1 of every piece, hashed on `workers` threads of `executor`.

    strict (creating): a file that is missing, unreadable or shorter than
    listed is an error. lenient (verifying): its bytes count as zeros and the
    file is reported in `unreadable`, like a client's recheck.
    """
    job = _HashJob(files, piece_length, strict=strict)
    count = max(1, min(workers or default_workers(), job.batches))
    job.done = [0] * count  # one counter per thread: no lock, no lost updates
    if progress is not None:
        await progress(0, job.total)  # the size is known now: views can show a real bar
    submitted = [executor.submit(job.work, slot) for slot in range(count)]
    pending = {asyncio.wrap_future(future) for future in submitted}
    try:
        while pending:
            done, pending = await asyncio.wait(
                pending, timeout=POLL_SECONDS, return_when=asyncio.FIRST_EXCEPTION
            )
            for future in done:
                future.result()  # re-raise a thread's error here, in the caller
            if progress is not None and pending:
                await progress(job.bytes_done(), job.total)
    except BaseException:
        await _stop(job, submitted, pending)
        raise
    if progress is not None:
        await progress(job.total, job.total)
    return PieceHashes(bytes(job.digests), frozenset(job.unreadable))


async def _stop(
    job: _HashJob, submitted: list[Future[None]], pending: set[asyncio.Future[None]]
) -> None:
    """Tell the threads to stop and wait until they have (one chunk at most).

    Tasks still queued behind another hash in a shared pool are cancelled
    outright, so stopping never waits for someone else's work to finish.
    """
    job.stop.set()
    for future in submitted:
        future.cancel()  # only succeeds for tasks that have not started
    if not pending:
        return
    with contextlib.suppress(asyncio.CancelledError):
        # asyncio.wait never cancels the futures, so this really waits for the threads.
        await asyncio.shield(asyncio.wait(pending))
    for waited in pending:
        if waited.done() and not waited.cancelled():
            waited.exception()  # retrieved: a second failure is not worth a log line


class _HashJob:
    """Shared state of one hashing run; `work` is the body of each thread."""

    def __init__(self, files: Sequence[HashSource], piece_length: int, *, strict: bool) -> None:
        self.paths = [f.path for f in files]
        self.lengths = [f.length for f in files]
        self.offsets: list[int] = []
        total = 0
        for length in self.lengths:
            self.offsets.append(total)
            total += length
        if total <= 0:
            raise TorrentError("nothing to hash: the files hold 0 bytes")
        self.total = total
        self.piece_length = piece_length
        self.pieces = piece_count(total, piece_length)
        self.digests = bytearray(DIGEST * self.pieces)
        self.batch_pieces = max(1, BATCH // piece_length)
        self.batches = -(-self.pieces // self.batch_pieces)
        self.chunk = min(CHUNK, total)
        self.strict = strict
        self.stop = threading.Event()
        self.unreadable: set[int] = set()
        self._next_piece = 0
        self._lock = threading.Lock()
        self.done: list[int] = []

    def bytes_done(self) -> int:
        return sum(self.done)

    def work(self, slot: int) -> None:
        reader = _Reader(self)
        buffer = memoryview(bytearray(self.chunk))
        try:
            while not self.stop.is_set():
                with self._lock:
                    first = self._next_piece
                    self._next_piece += self.batch_pieces
                if first >= self.pieces:
                    return
                end = min(first + self.batch_pieces, self.pieces)
                self._hash_batch(first, end, reader, buffer, slot)
        except BaseException:
            self.stop.set()  # one failure stops every thread
            raise
        finally:
            reader.close()

    def _hash_batch(
        self, first: int, end_piece: int, reader: _Reader, buffer: memoryview, slot: int
    ) -> None:
        """Hash pieces [first, end_piece): read the range chunk by chunk, hash as it arrives."""
        plen, total, digests, sha1 = self.piece_length, self.total, self.digests, hashlib.sha1
        piece = first
        piece_start = first * plen
        piece_end = min(piece_start + plen, total)
        end = min(end_piece * plen, total)
        running = None  # sha1 of a piece that continues into the next chunk
        pos = piece_start
        while pos < end:
            if self.stop.is_set():
                return
            n = min(self.chunk, end - pos)
            reader.read_into(buffer, pos, n)
            i = 0
            while i < n:
                take = min(n - i, piece_end - pos - i)
                view = buffer[i : i + take]
                i += take
                if running is None and take == piece_end - piece_start:
                    digest = sha1(view).digest()  # the whole piece is in this chunk
                else:
                    if running is None:
                        running = sha1()
                    running.update(view)
                    if pos + i < piece_end:
                        continue  # piece goes on in the next chunk
                    digest = running.digest()
                    running = None
                digests[piece * DIGEST : (piece + 1) * DIGEST] = digest
                piece += 1
                piece_start, piece_end = piece_end, min(piece_end + plen, total)
            pos += n
            self.done[slot] += n


class _Reader:
    """One thread's view of the stream: its own descriptors, reads into a caller's buffer."""

    def __init__(self, job: _HashJob) -> None:
        self.job = job
        self.fds: dict[int, int] = {}

    def read_into(self, buffer: memoryview, pos: int, n: int) -> None:
        """Fill buffer[:n] with stream bytes [pos, pos + n), crossing files as needed."""
        job = self.job
        index = bisect.bisect_right(job.offsets, pos) - 1
        filled = 0
        while filled < n:
            offset = pos + filled - job.offsets[index]
            available = job.lengths[index] - offset
            if available <= 0:  # end of this file (or a zero-byte file): next one
                index += 1
                continue
            take = min(available, n - filled)
            self._pread(index, buffer[filled : filled + take], offset)
            filled += take

    def _pread(self, index: int, view: memoryview, offset: int) -> None:
        fd = self._fd(index)
        while len(view):
            try:
                got = os.preadv(fd, [view], offset) if fd >= 0 else 0
            except OSError as exc:
                self._missing(index, view, exc)
                return
            if got <= 0:
                self._missing(index, view, None)
                return
            view = view[got:]
            offset += got

    def _missing(self, index: int, view: memoryview, exc: OSError | None) -> None:
        path = self.job.paths[index]
        if self.job.strict and exc is not None:
            raise TransientError(f"cannot read {path}: {exc.strerror}") from None
        if self.job.strict:
            raise TransientError(
                f"{path} is shorter than when it was listed; it changed while being hashed",
                hint="wait until nothing writes to the release folder; the job retries by itself",
            )
        self.job.unreadable.add(index)
        view[:] = bytes(len(view))  # a client's recheck treats missing data as wrong data

    def _fd(self, index: int) -> int:
        fd = self.fds.get(index)
        if fd is not None:
            return fd
        if len(self.fds) >= MAX_OPEN_FILES:
            os.close(self.fds.pop(next(iter(self.fds))))
        fd = self._open(index)
        self.fds[index] = fd
        return fd

    def _open(self, index: int) -> int:
        path = self.job.paths[index]
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            if not self.job.strict:
                return -1
            raise _open_error(path, exc) from None
        with contextlib.suppress(AttributeError, OSError):  # readahead hint, Linux only
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        return fd

    def close(self) -> None:
        for fd in self.fds.values():
            if fd >= 0:
                os.close(fd)
        self.fds.clear()


def _open_error(path: Path, exc: OSError) -> Exception:
    if isinstance(exc, FileNotFoundError):
        return TransientError(
            f"{path} vanished while being hashed",
            hint="wait until nothing changes the release folder; the job retries by itself",
        )
    if isinstance(exc, PermissionError):
        return TorrentError(
            f"cannot read {path}: permission denied",
            hint=f"give the user mamfast runs as (uid {os.getuid()}) read access to it",
        )
    return TransientError(f"cannot read {path}: {exc.strerror}")
