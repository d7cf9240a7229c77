"""verify, inspect and the `mamfast torrent` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamfast.cli.app import app
from mamfast.torrents import create_torrent, read_torrent, verify, write_torrent_atomic
from tests.support.torrent_data import ANNOUNCE, mktorrent_infohash, tree

runner = CliRunner()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


@pytest.fixture
def release_dir(tmp_path: Path) -> Path:
    return tree(
        tmp_path / "seed" / "Book",
        [("Part 01.m4b", 100_000), ("Part 02.m4b", 80_000), ("cover.jpg", 20_000)],
    )


async def make(folder: Path, pool: ThreadPoolExecutor, exp: int = 15) -> Path:
    made = await create_torrent(
        folder, source="MAM", announce=ANNOUNCE, piece_exp=exp, executor=pool
    )
    out = folder.parent.parent / "Book.torrent"
    write_torrent_atomic(made.data, out)
    return out


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


async def test_verify_passes_on_intact_data(release_dir, pool):
    meta = read_torrent(await make(release_dir, pool))
    result = await verify(meta, release_dir, executor=pool)
    assert result.ok and result.bad_pieces == () and result.piece_count == meta.piece_count
    # The save path (the folder holding the content) works too, like a client's.
    assert (await verify(meta, release_dir.parent, executor=pool)).ok


async def test_verify_finds_a_flipped_byte(release_dir, pool):
    meta = read_torrent(await make(release_dir, pool))
    flip_byte(release_dir / "Part 02.m4b", 50_000)  # stream offset 150_000 -> piece 4
    result = await verify(meta, release_dir, executor=pool)
    assert not result.ok
    assert result.bad_pieces == (150_000 // 32_768,)
    assert result.first_bad_files == ("Part 02.m4b",)
    assert result.missing == () and result.wrong_size == ()


async def test_verify_names_every_file_of_a_piece_across_a_boundary(release_dir, pool):
    meta = read_torrent(await make(release_dir, pool))
    flip_byte(release_dir / "Part 01.m4b", 99_999)  # piece 3 spans Part 01 and Part 02
    result = await verify(meta, release_dir, executor=pool)
    assert result.bad_pieces == (3,)
    assert result.first_bad_files == ("Part 01.m4b", "Part 02.m4b")


async def test_verify_reports_missing_and_resized_files(release_dir, pool):
    meta = read_torrent(await make(release_dir, pool))
    (release_dir / "cover.jpg").unlink()
    with (release_dir / "Part 01.m4b").open("ab") as f:
        f.write(b"extra")
    result = await verify(meta, release_dir, executor=pool)
    assert not result.ok
    assert result.missing == ("cover.jpg",)
    assert result.wrong_size == ("Part 01.m4b",)
    assert result.bad_pieces[-1] == meta.piece_count - 1  # the cover's pieces fail


def test_cli_create_inspect_verify(release_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMFAST_ANNOUNCE_URL", ANNOUNCE)
    monkeypatch.setenv("MAMFAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.torrent"

    made = runner.invoke(app, ["torrent", "create", str(release_dir), "-o", str(out), "-l", "15"])
    assert made.exit_code == 0, made.output
    infohash = read_torrent(out).infohash
    assert infohash in made.output
    assert infohash == mktorrent_infohash(release_dir, 15)
    assert "PASSKEY" not in made.output

    shown = runner.invoke(app, ["torrent", "inspect", str(out)])
    assert shown.exit_code == 0, shown.output
    for expected in (infohash, "Book", "32 KiB", "private", "yes", "MAM", "Part 02.m4b"):
        assert expected in shown.output
    assert "https://t.example.net/***" in shown.output
    assert "PASSKEY" not in shown.output

    info = json.loads(runner.invoke(app, ["torrent", "inspect", str(out), "--json"]).output)
    assert info["infohash"] == infohash and info["piece_count"] == 7 and info["private"]
    assert info["announce"] == "https://t.example.net/***"

    good = runner.invoke(app, ["torrent", "verify", str(out), str(release_dir)])
    assert good.exit_code == 0 and "OK" in good.output

    flip_byte(release_dir / "cover.jpg", 0)
    bad = runner.invoke(app, ["torrent", "verify", str(out), str(release_dir)])
    assert bad.exit_code == 1
    assert "first bad piece #5" in bad.output and "cover.jpg" in bad.output


def test_cli_create_defaults_to_settings_source_and_auto_piece_size(release_dir, tmp_path):
    env = {"MAMFAST_TORRENT_SOURCE": "OPS", "MAMFAST_DATA_DIR": str(tmp_path / "d")}
    made = runner.invoke(
        app, ["torrent", "create", str(release_dir), "-o", str(tmp_path), "--json"], env=env
    )
    assert made.exit_code == 0, made.output
    meta = read_torrent(tmp_path / "Book.torrent")
    assert meta.source == "OPS" and meta.piece_length == 1 << 15 and meta.announce is None
    assert "MAMFAST_ANNOUNCE_URL is not set" in made.output  # CliRunner mixes stderr in
    assert json.loads(made.stdout.split("warning")[0])["infohash"] == meta.infohash


def test_cli_errors_are_one_plain_line(tmp_path):
    missing = runner.invoke(app, ["torrent", "create", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    junk = tmp_path / "junk.torrent"
    junk.write_bytes(b"hello")
    shown = runner.invoke(app, ["torrent", "inspect", str(junk)])
    assert shown.exit_code == 1 and "not a torrent file" in shown.output
    assert "Traceback" not in shown.output + missing.output


def test_announce_shows_only_scheme_and_host():
    from mamfast.torrents.parse import shown_announce

    assert shown_announce("https://t.myanonamouse.net/tracker.php/abcdef123/announce") == (
        "https://t.myanonamouse.net/***"
    )
    assert shown_announce("http://host:8080/abc/announce") == "http://host:8080/***"
    assert shown_announce("garbage-without-scheme") == "***"
