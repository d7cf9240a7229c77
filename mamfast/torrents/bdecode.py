"""A strict bencode reader that also says where each top-level value lies in the input.

The infohash is the SHA-1 of the `info` value exactly as the file holds it, so a
.torrent must be read with that byte span, which a plain decoder does not give.

A .torrent crosses a trust boundary: every malformed input (truncated, a wrong
type, a length past the end, nesting too deep, a number that is not canonical,
a repeated key) raises `TorrentError`, never another exception. The work is one
pass over the input, lengths are checked before anything is sliced, and numbers
are at most `MAX_DIGITS` long, so no input makes it hang or allocate much.
"""

from __future__ import annotations

import re
from typing import Any

from mamfast.errors import TorrentError

MAX_DEPTH = 64  # a real .torrent nests four deep (info -> files -> file -> path)
MAX_DIGITS = 20  # no length or number in a torrent needs more (2**64 has 20 digits)

_INTEGER = re.compile(rb"0|-?[1-9][0-9]*")
_LENGTH = re.compile(rb"0|[1-9][0-9]*")
Span = tuple[int, int]


def decode_dict_with_spans(data: bytes) -> tuple[dict[bytes, Any], dict[bytes, Span]]:
    """The top-level dict of `data`, and for each key the [start, end) of its value."""
    if data[:1] != b"d":
        raise _damaged("it does not start with a bencoded dict")
    top: dict[bytes, Any] = {}
    spans: dict[bytes, Span] = {}
    pos = 1
    while data[pos : pos + 1] != b"e":
        key, start = _string(data, pos)
        if key in top:
            raise _damaged(f"the key {key[:40]!r} appears twice")
        top[key], pos = _value(data, start, 1)
        spans[key] = (start, pos)
    if pos + 1 != len(data):
        raise _damaged("data follows the bencoded dict")
    return top, spans


def _value(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise _damaged(f"values nest deeper than {MAX_DEPTH}")
    lead = data[pos : pos + 1]
    if lead == b"i":
        return _integer(data, pos)
    if lead == b"l":
        items: list[Any] = []
        pos += 1
        while data[pos : pos + 1] != b"e":
            item, pos = _value(data, pos, depth + 1)
            items.append(item)
        return items, pos + 1
    if lead == b"d":
        entries: dict[bytes, Any] = {}
        pos += 1
        while data[pos : pos + 1] != b"e":
            key, pos = _string(data, pos)
            if key in entries:
                raise _damaged(f"the key {key[:40]!r} appears twice")
            entries[key], pos = _value(data, pos, depth + 1)
        return entries, pos + 1
    if lead.isdigit():
        return _string(data, pos)
    if not lead:
        raise _damaged("it ends in the middle of a value")
    raise _damaged(f"unexpected byte {lead!r} at offset {pos}")


def _integer(data: bytes, pos: int) -> tuple[int, int]:
    end = data.find(b"e", pos + 1, pos + 2 + MAX_DIGITS)  # room for a sign
    if end < 0:
        raise _damaged(f"the number at offset {pos} has no end or is too long")
    digits = data[pos + 1 : end]
    if not _INTEGER.fullmatch(digits):
        raise _damaged(f"{digits[:30]!r} at offset {pos} is not a number")
    return int(digits), end + 1


def _string(data: bytes, pos: int) -> tuple[bytes, int]:
    colon = data.find(b":", pos, pos + 1 + MAX_DIGITS)
    if colon < 0:
        raise _damaged(f"expected a string at offset {pos}")
    digits = data[pos:colon]
    if not _LENGTH.fullmatch(digits):
        raise _damaged(f"{digits[:30]!r} at offset {pos} is not a string length")
    end = colon + 1 + int(digits)
    if end > len(data):
        raise _damaged(f"a string of {int(digits)} bytes at offset {pos} runs past the end")
    return data[colon + 1 : end], end


def _damaged(why: str) -> TorrentError:
    return TorrentError(f"not a torrent file: the bencoding is damaged ({why})")
