"""Torrent creation, inspection and verification (BitTorrent v1, private).

One concept per module, after mkbrr's layout: `files` (what goes in, in which
order), `pieces` (piece length), `hasher` (parallel SHA-1), `disk` (hash turns
per device), `metainfo` (bencoding and the info dict), `bdecode` (reading bencode
with the exact `info` bytes), `create`, `parse` (read and validate), `verify`, and `mkbrr` (the
optional external backend).
"""

from mamfast.torrents.create import (
    CreatedTorrent,
    create_torrent,
    with_announce,
    write_torrent_atomic,
)
from mamfast.torrents.files import Content, ContentFile, scan_content
from mamfast.torrents.hasher import PieceHashes, Progress, hash_pieces
from mamfast.torrents.parse import TorrentFile, TorrentMeta, parse_torrent, read_torrent
from mamfast.torrents.pieces import auto_piece_exp, choose_piece_exp
from mamfast.torrents.verify import VerifyResult, verify

__all__ = [
    "Content",
    "ContentFile",
    "CreatedTorrent",
    "PieceHashes",
    "Progress",
    "TorrentFile",
    "TorrentMeta",
    "VerifyResult",
    "auto_piece_exp",
    "choose_piece_exp",
    "create_torrent",
    "hash_pieces",
    "parse_torrent",
    "read_torrent",
    "scan_content",
    "verify",
    "with_announce",
    "write_torrent_atomic",
]
