"""The bencode reader behind every .torrent we read: exact `info` spans, and malformed
input refused with a TorrentError (never another exception, never a hang)."""

from __future__ import annotations

import hashlib
import random

import bencodepy
import pytest

from mamfast.errors import TorrentError
from mamfast.torrents.bdecode import MAX_DEPTH, decode_dict_with_spans
from mamfast.torrents.metainfo import split_torrent
from mamfast.torrents.parse import parse_torrent

INFO = b"d6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:" + b"\x01" * 20 + b"e"
TORRENT = b"d8:announce9:http://t/4:info" + INFO + b"e"


def test_spans_point_at_the_exact_bytes_of_each_value():
    top, spans = decode_dict_with_spans(TORRENT)
    start, end = spans[b"info"]
    assert TORRENT[start:end] == INFO
    assert TORRENT[slice(*spans[b"announce"])] == b"9:http://t/"
    assert top[b"info"][b"piece length"] == 16384 and top[b"announce"] == b"http://t/"


def test_decodes_what_bencode_py_decodes():
    value = {
        b"info": {b"files": [{b"length": 0, b"path": [b"a", b"\xff"]}], b"n": -7},
        b"list": [1, [], {}, b""],
    }
    top, _ = decode_dict_with_spans(bencodepy.encode(value))
    assert top == value


def test_the_infohash_is_over_the_bytes_in_the_file_even_unsorted():
    unsorted = b"d4:name1:x6:lengthi5e12:piece lengthi16384e6:pieces20:" + b"\x01" * 20 + b"e"
    _, info = split_torrent(b"d4:info" + unsorted + b"e")
    assert info == unsorted
    assert (
        parse_torrent(b"d4:info" + unsorted + b"e").infohash == hashlib.sha1(unsorted).hexdigest()
    )


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "does not start with a bencoded dict"),
        (b"l4:infoe", "does not start with a bencoded dict"),
        (b"d", "expected a string"),
        (b"d4:info", "ends in the middle"),
        (b"d4:infod4:name", "ends in the middle"),
        (b"d4:infold", "expected a string"),
        (b"d4:infoi12", "no end or is too long"),
        (TORRENT[:-1], "ends in the middle|expected a string"),
        (TORRENT + b"x", "data follows"),
        (b"d4:info9999999999:xe", "runs past the end"),  # a huge length, never allocated
        (b"d4:info" + b"9" * 40 + b":xe", "expected a string"),
        (b"d4:infoi" + b"9" * 5000 + b"ee", "no end or is too long"),
        (b"d4:infoi-0ee", "is not a number"),
        (b"d4:infoi03ee", "is not a number"),
        (b"d4:infoi1_0ee", "is not a number"),
        (b"d4:infoi 1ee", "is not a number"),
        (b"d4:infoiee", "is not a number"),
        (b"d4:info03:abce", "is not a string length"),
        (b"d4:info-1:ae", "unexpected byte"),
        (b"di1e4:infoe", "is not a string length"),  # a key that is not a string
        (b"d4:infode3:abcde", "expected a string"),  # a dict key that is a dict
        (b"d4:infox", "unexpected byte"),
        (b"d4:infode4:infodee", "appears twice"),  # which one would the infohash cover?
        (b"d4:infod1:a0:1:a0:ee", "appears twice"),
        (b"d4:info" + b"l" * (MAX_DEPTH + 5) + b"e" * (MAX_DEPTH + 5) + b"e", "nest deeper"),
        (b"d4:info" + b"l" * 100_000, "nest deeper"),  # no RecursionError
    ],
)
def test_malformed_input_is_a_torrent_error(data, why):
    with pytest.raises(TorrentError, match=why):
        split_torrent(data)


def test_wrong_types_inside_info_are_a_torrent_error():
    wrong = b"d4:infod6:lengthi5e4:namei7e12:piece length3:abc6:pieces20:" + b"\x01" * 20 + b"ee"
    with pytest.raises(TorrentError, match="not a valid torrent"):
        parse_torrent(wrong)
    with pytest.raises(TorrentError, match="info is not a dict"):
        parse_torrent(b"d4:infoli1eee")


def test_random_damage_is_always_a_torrent_error_or_a_torrent():
    """Flipped, cut and inserted bytes: a TorrentError or a valid torrent, nothing else."""
    rng = random.Random(13)
    refused = 0
    for _ in range(3000):
        data = bytearray(TORRENT)
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(data))
            action = rng.choice(("flip", "cut", "insert"))
            if action == "flip":
                data[where] = rng.randrange(256)
            elif action == "cut":
                del data[where:]
            else:
                data[where:where] = rng.choice((b"e", b"d", b"l", b"i", b"9", b":", b"99999999:"))
            if not data:
                break
        try:
            meta = parse_torrent(bytes(data))
        except TorrentError:
            refused += 1
        else:  # still a torrent (a flipped byte in a name): hashed over its own info bytes
            assert meta.infohash == hashlib.sha1(split_torrent(bytes(data))[1]).hexdigest()
    assert refused > 1000
