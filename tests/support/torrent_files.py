"""Staged folders and private v1 .torrent files for upload tests.

The torrent stage is written elsewhere; these tests make their own torrents the
way it does: private, v1, `info.name` = the staged folder's name, announcing to
a closed loopback port (qBittorrent's announces fail at once, nothing leaves the
machine), infohash = SHA-1 of the bencoded info dict.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import bencode

from mamfast.models import Checkpoints, Release, Stage, utcnow
from mamfast.ops.embedded import free_port

PIECE_LENGTH = 32 * 1024
DEFAULT_SIZES = (150_000, 60_000)


@dataclass(frozen=True)
class StagedBook:
    folder: Path
    torrent_path: Path
    infohash: str

    def release(self, asin: str, *, stage: Stage = Stage.UPLOAD) -> Release:
        """A release record as the torrent stage leaves it."""
        now = utcnow()
        return Release(
            asin=asin,
            title=self.folder.name,
            author="Test Author",
            staging_dir=str(self.folder),
            torrent_path=str(self.torrent_path),
            infohash=self.infohash,
            stage=stage,
            checkpoints=Checkpoints(staged_at=now, metadata_at=now, torrent_at=now),
        )


def write_files(folder: Path, sizes: tuple[int, ...] = DEFAULT_SIZES) -> None:
    """Random audio-ish files (random, so every test's torrent has its own infohash)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, size in enumerate(sizes):
        (folder / f"{folder.name} - Part {index + 1:02d}.m4b").write_bytes(os.urandom(size))


def make_torrent(
    folder: Path,
    out: Path,
    *,
    announce_port: int | None = None,
    piece_length: int = PIECE_LENGTH,
) -> str:
    """Write a private v1 multi-file torrent of `folder` to `out`; return its infohash."""
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    info = {
        "files": [
            {"length": p.stat().st_size, "path": list(p.relative_to(folder).parts)} for p in paths
        ],
        "name": folder.name,
        "piece length": piece_length,
        "pieces": _pieces(paths, piece_length),
        "private": 1,
        "source": "MAM",
    }
    port = announce_port or free_port()  # bound and released: nothing listens there
    meta = {"announce": f"http://127.0.0.1:{port}/announce", "info": info}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bencode.encode(meta))
    return hashlib.sha1(bencode.encode(info)).hexdigest()


def _pieces(paths: list[Path], piece_length: int) -> bytes:
    """SHA-1 of each piece across the files in order (pieces span file boundaries)."""
    digests = []
    buffer = b""
    for path in paths:
        with path.open("rb") as fh:
            while chunk := fh.read(piece_length - len(buffer)):
                buffer += chunk
                if len(buffer) == piece_length:
                    digests.append(hashlib.sha1(buffer).digest())
                    buffer = b""
    if buffer:
        digests.append(hashlib.sha1(buffer).digest())
    return b"".join(digests)


def stage_book(
    seed_dir: Path, torrent_dir: Path, name: str, *, sizes: tuple[int, ...] = DEFAULT_SIZES
) -> StagedBook:
    folder = seed_dir / name
    write_files(folder, sizes)
    out = torrent_dir / name / f"{name}.torrent"
    return StagedBook(folder, out, make_torrent(folder, out))
