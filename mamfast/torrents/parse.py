"""Read a .torrent from disk into a validated `TorrentMeta`.

A torrent file crosses a trust boundary (ours from an earlier run, mkbrr's,
or one a user points us at), so it is validated here once: types, a piece
table that matches the sizes, and file paths that cannot escape the content
folder. The infohash is the SHA-1 of the exact `info` bytes in the file.
The announce URL carries the user's passkey: it is a SecretStr and shows
masked everywhere.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from mamfast.errors import TorrentError
from mamfast.redact import mask_url
from mamfast.torrents.metainfo import infohash, split_torrent
from mamfast.torrents.pieces import human_size

MAX_TORRENT_BYTES = 64 << 20  # a real .torrent is kilobytes; refuse to slurp a wrong file
DIGEST = 20


class TorrentFile(BaseModel):
    """One file: path components under the torrent root ((name,) for a single file)."""

    model_config = ConfigDict(frozen=True, strict=True)

    path: tuple[str, ...] = Field(min_length=1)
    length: int = Field(ge=0)

    @field_validator("path")
    @classmethod
    def _safe_components(cls, parts: tuple[str, ...]) -> tuple[str, ...]:
        for part in parts:
            if part in ("", ".", "..") or "/" in part or "\\" in part or "\x00" in part:
                raise ValueError(f"unsafe path component {part!r}")
        return parts

    @property
    def relpath(self) -> str:
        return "/".join(self.path)


class TorrentMeta(BaseModel):
    """What a .torrent says, plus its exact bytes and infohash."""

    model_config = ConfigDict(frozen=True, strict=True)

    name: str = Field(min_length=1)
    infohash: str = Field(pattern=r"^[0-9a-f]{40}$")
    piece_length: int = Field(gt=0)
    pieces: bytes = Field(repr=False)
    multi_file: bool
    files: tuple[TorrentFile, ...] = Field(min_length=1)
    private: bool
    source: str | None = None
    announce: SecretStr | None = None
    announce_list: tuple[SecretStr, ...] = ()
    created_by: str | None = None
    creation_date: int | None = None
    comment: str | None = None
    info_keys: tuple[str, ...] = ()
    info_bytes: bytes = Field(repr=False)
    data: bytes = Field(repr=False)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        TorrentFile._safe_components((name,))
        return name

    @field_validator("piece_length")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"{value} is not a power of two")
        return value

    @model_validator(mode="after")
    def _piece_table_matches(self) -> TorrentMeta:
        if len(self.pieces) % DIGEST:
            raise ValueError("pieces is not a whole number of SHA-1 digests")
        expected = math.ceil(self.total_size / self.piece_length)
        if self.piece_count != expected:
            raise ValueError(
                f"{self.piece_count} piece hashes for {self.total_size} bytes (expected {expected})"
            )
        return self

    @property
    def piece_count(self) -> int:
        return len(self.pieces) // DIGEST

    @property
    def total_size(self) -> int:
        return sum(f.length for f in self.files)

    @property
    def has_entropy(self) -> bool:
        return "entropy" in self.info_keys

    def piece_digest(self, index: int) -> bytes:
        return self.pieces[index * DIGEST : (index + 1) * DIGEST]


def read_torrent(path: Path) -> TorrentMeta:
    """Read and validate a .torrent file (blocking; small files only)."""
    try:
        size = path.stat().st_size
        if size > MAX_TORRENT_BYTES:
            raise TorrentError(f"{path} is {human_size(size)}; that is not a torrent file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise TorrentError(f"{path} does not exist") from None
    except OSError as exc:
        raise TorrentError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return parse_torrent(data)
    except TorrentError as exc:
        raise TorrentError(f"{path}: {exc.message}", hint=exc.hint) from None


def parse_torrent(data: bytes) -> TorrentMeta:
    top, info_bytes = split_torrent(data)
    info = top.get(b"info")
    if not isinstance(info, dict):
        raise TorrentError("not a torrent file: info is not a dict")
    raw = {
        "name": _text(info.get(b"name")),
        "infohash": infohash(info_bytes),
        "piece_length": info.get(b"piece length"),
        "pieces": info.get(b"pieces"),
        "multi_file": b"files" in info,
        "files": _files(info),
        "private": info.get(b"private") == 1,
        "source": _text(info.get(b"source")),
        "announce": _text(top.get(b"announce")),
        "announce_list": _trackers(top.get(b"announce-list")),
        "created_by": _text(top.get(b"created by")),
        "creation_date": top.get(b"creation date"),
        "comment": _text(top.get(b"comment")),
        "info_keys": tuple(sorted(_text(k) or "" for k in info)),
        "info_bytes": info_bytes,
        "data": data,
    }
    try:
        return TorrentMeta.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "torrent"
        raise TorrentError(f"not a valid torrent: {where}: {first['msg']}") from None


def _text(value: Any) -> Any:
    # Names are bytes on the wire; surrogateescape keeps non-UTF-8 bytes round-trippable.
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _files(info: dict[bytes, Any]) -> Any:
    if b"files" not in info:
        return ({"path": (_text(info.get(b"name")),), "length": info.get(b"length")},)
    entries = info[b"files"]
    if not isinstance(entries, list):
        return entries  # pydantic reports the wrong type
    return tuple(
        {"path": tuple(_text(p) for p in e.get(b"path", ())), "length": e.get(b"length")}
        if isinstance(e, dict) and isinstance(e.get(b"path", ()), list)
        else e
        for e in entries
    )


def _trackers(tiers: Any) -> tuple[Any, ...]:
    if not isinstance(tiers, list):
        return ()
    return tuple(_text(url) for tier in tiers if isinstance(tier, list) for url in tier)


def shown_announce(url: str | SecretStr | None) -> str | None:
    """Scheme and host only: the path of a tracker URL holds the passkey."""
    return None if url is None else mask_url(url, keep="host")


def summary(meta: TorrentMeta) -> dict[str, Any]:
    """Everything `mamfast torrent inspect` shows; safe to print (announce masked)."""
    return {
        "name": meta.name,
        "infohash": meta.infohash,
        "total_size": meta.total_size,
        "piece_length": meta.piece_length,
        "piece_count": meta.piece_count,
        "private": meta.private,
        "source": meta.source,
        "announce": shown_announce(meta.announce),
        "announce_list": [shown_announce(u) for u in meta.announce_list],
        "created_by": meta.created_by,
        "creation_date": meta.creation_date,
        "comment": meta.comment,
        "multi_file": meta.multi_file,
        "files": [{"path": f.relpath, "length": f.length} for f in meta.files],
        "extra_info_keys": [
            k
            for k in meta.info_keys
            if k not in {"name", "piece length", "pieces", "files", "length", "private", "source"}
        ],
    }
