"""The built-in creator against the real mktorrent: same files + piece length = same infohash."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from mamfast.errors import ConfigError, TorrentError, TransientError
from mamfast.fs.atomic import temp_files
from mamfast.torrents import create_torrent, hasher, parse_torrent, read_torrent, scan_content
from mamfast.torrents.create import write_torrent_atomic
from mamfast.torrents.pieces import auto_piece_exp
from tests.support.torrent_data import ANNOUNCE, book, mktorrent_infohash, tree, write


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


async def ours(path: Path, exp: int, pool: ThreadPoolExecutor, **kw: object) -> str:
    made = await create_torrent(
        path, source="MAM", announce=ANNOUNCE, piece_exp=exp, executor=pool, **kw
    )
    return made.infohash


@pytest.mark.parametrize("exp", [15, 16, 20, 22])
async def test_nested_tree_with_zero_byte_file_matches_mktorrent(tmp_path, pool, exp):
    folder = tree(
        tmp_path / "Author - Book",
        [
            ("Part 01.m4b", 1_500_001),
            ("Part 02.m4b", 32_767),
            ("cover.jpg", 153_607),
            ("CD1.jpg", 5_000),  # sorts before CD1/..., because '.' < '/'
            ("CD1/a.mp3", 70_001),
            ("CD1/deeper/b.mp3", 32_769),
            ("empty.cue", 0),  # listed, holds no bytes
            ("Z/1", 1),
        ],
    )
    assert await ours(folder, exp, pool) == mktorrent_infohash(folder, exp)


async def test_single_file_matches_mktorrent(tmp_path, pool):
    file = write(tmp_path / "Book.m4b", 2_000_003)
    made = await create_torrent(file, source="MAM", announce=None, piece_exp=16, executor=pool)
    assert not made.content.multi_file
    assert made.infohash == mktorrent_infohash(file, 16)


async def test_folder_with_one_file_is_still_multi_file(tmp_path, pool):
    folder = tree(tmp_path / "Solo", [("only.m4b", 100_000)])
    made = await create_torrent(folder, source="MAM", announce=None, piece_exp=15, executor=pool)
    assert parse_torrent(made.data).multi_file
    assert made.infohash == mktorrent_infohash(folder, 15)


async def test_unicode_names_are_kept_byte_exact(tmp_path, pool):
    names = [
        ("Kapitel Ä – Teil 1.m4b", 40_000),
        ("e\u0301tude (decomposed).mp3", 30_000),  # NFD: must not be normalised to NFC
        ("\u00e9tude (composed).mp3", 30_001),
        ("日本語/第1章.m4b", 50_000),
        ("☃ snow.jpg", 1_000),
    ]
    folder = tree(tmp_path / "Bøøk ☃ {ASIN.B0UNICODE1}", names)
    made = await create_torrent(folder, source="MAM", announce=None, piece_exp=15, executor=pool)
    assert made.infohash == mktorrent_infohash(folder, 15)
    listed = {f.relpath for f in parse_torrent(made.data).files}
    assert "e\u0301tude (decomposed).mp3" in listed and "\u00e9tude (composed).mp3" in listed


async def test_hidden_partial_and_ignored_files_are_left_out(tmp_path, pool):
    real = [("Part 01.m4b", 90_000), ("cover.jpg", 9_000), ("Sub/x.mp3", 5_000)]
    junk = [
        (".DS_Store", 10),
        ("._Part 01.m4b", 4_096),  # AppleDouble
        (".hidden/inside.mp3", 100),
        ("Part 02.m4b.part", 50_000),
        ("download.!qB", 10),
        ("Thumbs.db", 10),
        ("old.torrent", 10),
        ("@eaDir/thumb.jpg", 10),
        ("Sub/.nfo", 3),
    ]
    messy = tree(tree(tmp_path / "messy" / "Book", real), junk)
    clean = tree(tmp_path / "clean" / "Book", real)  # same name: the name is in the infohash
    made = await create_torrent(messy, source="MAM", announce=None, piece_exp=15, executor=pool)
    assert [f.relpath for f in made.content.files] == ["Part 01.m4b", "Sub/x.mp3", "cover.jpg"]
    assert made.infohash == mktorrent_infohash(clean, 15)


@pytest.mark.parametrize("chunk", [1000, 4096, 65_537])
async def test_odd_read_sizes_still_match(tmp_path, pool, monkeypatch, chunk):
    """Chunks that cut pieces and files anywhere: streaming across boundaries is right."""
    monkeypatch.setattr(hasher, "CHUNK", chunk)
    folder = tree(tmp_path / "B", [("a", 70_000), ("b", 0), ("c", 1), ("d", 98_303)])
    for exp in (15, 16):
        assert await ours(folder, exp, pool) == mktorrent_infohash(folder, exp)


async def test_pieces_larger_than_the_read_size_are_streamed(tmp_path, pool):
    folder = tree(tmp_path / "Big", [("a.m4b", 5 * 1024 * 1024 + 3), ("b.m4b", 3_333_333)])
    assert hasher.CHUNK < 1 << 22
    assert await ours(folder, 22, pool) == mktorrent_infohash(folder, 22)


async def test_same_folder_gives_the_same_infohash_every_time(tmp_path, pool):
    folder = book(tmp_path)
    first = await create_torrent(folder, source="MAM", announce=None, executor=pool)
    again = await create_torrent(
        folder, source="MAM", announce="https://other.example/announce", executor=pool
    )
    assert first.infohash == again.infohash  # announce and dates sit outside info
    assert first.info_bytes == again.info_bytes
    assert b"entropy" not in first.info_bytes


async def test_source_and_private_decide_the_infohash(tmp_path, pool):
    folder = book(tmp_path)
    mam = await create_torrent(folder, source="MAM", announce=None, piece_exp=15, executor=pool)
    other = await create_torrent(folder, source="OPS", announce=None, piece_exp=15, executor=pool)
    assert mam.infohash != other.infohash
    assert mam.infohash == mktorrent_infohash(folder, 15, source="MAM")
    meta = parse_torrent(mam.data)
    assert meta.private and meta.source == "MAM"


async def test_torrent_structure(tmp_path, pool):
    folder = book(tmp_path)
    made = await create_torrent(
        folder, source="MAM", announce=ANNOUNCE, executor=pool, creation_date=1_700_000_000
    )
    meta = parse_torrent(made.data)
    assert meta.announce is not None and meta.announce.get_secret_value() == ANNOUNCE
    assert meta.created_by and meta.created_by.startswith("mamfast/")
    assert meta.creation_date == 1_700_000_000
    assert meta.info_keys == ("files", "name", "piece length", "pieces", "private", "source")
    assert meta.piece_length == 1 << auto_piece_exp(made.total_size)


async def test_no_announce_writes_no_announce_key(tmp_path, pool):
    made = await create_torrent(book(tmp_path), source="MAM", announce=None, executor=pool)
    assert b"8:announce" not in made.data


def test_auto_piece_table_matches_mkbrr():
    mib, gib = 1 << 20, 1 << 30
    assert auto_piece_exp(100 * 10**6) == 16
    assert auto_piece_exp(64 * mib) == 15 and auto_piece_exp(64 * mib + 1) == 16
    assert auto_piece_exp(gib) == 19 and auto_piece_exp(gib + 153_607) == 20
    assert auto_piece_exp(3 * 10**9) == 21
    assert auto_piece_exp(8 * gib) == 22
    assert auto_piece_exp(100 * gib) == 24  # mkbrr's default cap
    assert auto_piece_exp(100 * gib, max_exp=27) == 26
    assert auto_piece_exp(1) == 15
    with pytest.raises(ConfigError, match="out of range"):
        auto_piece_exp(10, max_exp=30)


async def test_zero_byte_folder_is_a_clear_error(tmp_path, pool):
    folder = tree(tmp_path / "Empty", [("a.m4b", 0), ("b.jpg", 0), (".hidden", 100)])
    with pytest.raises(TorrentError, match=r"holds no data \(2 file\(s\), 0 bytes"):
        await create_torrent(folder, source="MAM", announce=None, executor=pool)
    (tmp_path / "Nothing").mkdir()
    with pytest.raises(TorrentError, match="holds no data"):
        scan_content(tmp_path / "Nothing")


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(TorrentError, match="does not exist"):
        scan_content(tmp_path / "nope")


def test_unreadable_file_is_a_clear_error(tmp_path):
    """Checked before any hashing, and reported as one plain line by the CLI."""
    folder = tree(tmp_path / "Book", [("a.m4b", 10), ("b.m4b", 10)])
    (folder / "b.m4b").chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(TorrentError, match=r"cannot read .*b\.m4b: permission denied"):
            scan_content(folder)
    # Root reads anything; without CAP_DAC_OVERRIDE it obeys file modes like anyone else.
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    result = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-c",
            "from mamfast.cli.app import main; main()",
            "torrent",
            "create",
            str(folder),
            "-o",
            str(tmp_path / "out.torrent"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "MAMFAST_DATA_DIR": str(tmp_path)},
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot read" in result.stderr and "b.m4b: permission denied" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.torrent").exists()


def test_atomic_write_replaces_whole_files(tmp_path):
    dest = tmp_path / "Book" / "Book.torrent"
    write_torrent_atomic(b"first", dest)
    write_torrent_atomic(b"second", dest)
    assert dest.read_bytes() == b"second"
    assert not temp_files(dest)


def test_read_torrent_keeps_exact_info_bytes(tmp_path):
    """A non-canonical (unsorted keys) torrent still gets the SHA-1 of its own info bytes."""
    import hashlib

    info = b"d4:name1:x12:piece lengthi32768e6:lengthi1e6:pieces20:" + b"\0" * 20 + b"e"
    path = tmp_path / "odd.torrent"
    path.write_bytes(b"d4:info" + info + b"e")
    meta = read_torrent(path)
    assert meta.infohash == hashlib.sha1(info).hexdigest()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a torrent", "does not start with a bencoded dict"),
        (b"d4:infod4:name", "bencoding is damaged"),
        (b"d8:announce3:urle", "has no info dict"),
        (
            b"d4:infod5:filesld6:lengthi1e4:pathl2:..eee4:name1:x12:piece lengthi16384e"
            b"6:pieces20:" + b"\0" * 20 + b"ee",
            "unsafe path component",
        ),
        (
            b"d4:infod6:lengthi99999e4:name1:x12:piece lengthi16384e6:pieces20:"
            + b"\0" * 20
            + b"ee",
            "1 piece hashes for 99999 bytes",
        ),
    ],
)
def test_damaged_torrents_are_refused_with_a_reason(tmp_path, data, message):
    path = tmp_path / "bad.torrent"
    path.write_bytes(data)
    with pytest.raises(TorrentError, match=message):
        read_torrent(path)


async def test_a_file_cut_short_while_hashing_is_a_plain_retryable_error(tmp_path, pool):
    """Why the hasher reads with preadv, not mmap: a short read is told in words (a mapped
    file truncated under the hasher would kill the process with SIGBUS)."""

    @dataclass(frozen=True)
    class Listed:
        path: Path
        length: int

    part = write(tmp_path / "Part 01.m4b", 100_000)
    listed = Listed(part, 300_000)  # listed before Libation rewrote the file shorter
    with pytest.raises(TransientError, match="shorter than when it was listed"):
        await hasher.hash_pieces([listed], 1 << 16, executor=pool)
