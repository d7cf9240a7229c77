"""The .torrent format (BitTorrent v1): build, encode and split metainfo.

The infohash is the SHA-1 of the bencoded `info` dict, so everything inside
`info` (name, piece length, file order, lengths, paths, private, source)
decides it, and nothing outside does (announce, created by, creation date).
We never add `entropy`: the same folder must always give the same infohash.

Encoding is bencode.py (dict keys sorted as raw bytes). Reading is our own
`bdecode`, which keeps the exact `info` bytes found in the file; those are
hashed, never a re-encoding, so a foreign or non-canonical file still gets its
true infohash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import bencodepy
from bencodepy import Bencached

from mamfast.errors import TorrentError
from mamfast.torrents.bdecode import decode_dict_with_spans
from mamfast.torrents.files import Content


def created_by() -> str:
    try:
        version = metadata.version("mamfast")
    except metadata.PackageNotFoundError:  # running from a source tree
        version = "dev"
    return f"mamfast/{version}"


def build_info(
    content: Content, piece_length: int, digests: bytes, *, source: str | None
) -> dict[bytes, Any]:
    """The info dict: private, with `source` when given, layout as mkbrr writes it."""
    info: dict[bytes, Any] = {
        b"name": content.name.encode("utf-8"),
        b"piece length": piece_length,
        b"pieces": bytes(digests),
        b"private": 1,
    }
    if source:
        info[b"source"] = source.encode("utf-8")
    if content.multi_file:
        info[b"files"] = [
            {b"length": f.length, b"path": [part.encode("utf-8") for part in f.parts]}
            for f in content.files
        ]
    else:
        info[b"length"] = content.files[0].length
    return info


def encode(value: Any) -> bytes:
    encoded: bytes = bencodepy.encode(value)
    return encoded


def infohash(info_bytes: bytes) -> str:
    return hashlib.sha1(info_bytes).hexdigest()


def encode_torrent(
    info_bytes: bytes,
    *,
    announce: str | None,
    created_by: str | None,
    creation_date: int | None,
    extra: dict[bytes, Any] | None = None,
) -> bytes:
    """A whole .torrent around exact `info` bytes (which are embedded unchanged)."""
    top: dict[bytes, Any] = dict(extra or {})
    top[b"info"] = Bencached(info_bytes)
    if announce:
        top[b"announce"] = announce.encode("utf-8")
    else:
        top.pop(b"announce", None)
    if created_by:
        top[b"created by"] = created_by.encode("utf-8")
    if creation_date is not None:
        top[b"creation date"] = creation_date
    return encode(top)


def split_torrent(data: bytes) -> tuple[dict[bytes, Any], bytes]:
    """Decode a .torrent; return its top-level dict and the exact bytes of `info`."""
    top, spans = decode_dict_with_spans(data)
    if b"info" not in spans:
        raise TorrentError("not a torrent file: it has no info dict")
    start, end = spans[b"info"]
    return top, data[start:end]


def file_list(info: dict[bytes, Any]) -> Sequence[tuple[tuple[bytes, ...], int]]:
    """(path components, length) per file; a single-file torrent gives ((name,), length)."""
    if b"files" in info:
        return [(tuple(f[b"path"]), f[b"length"]) for f in info[b"files"]]
    return [((info[b"name"],), info[b"length"])]
