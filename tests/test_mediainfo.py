"""MediaInfo on real (tiny) audio files, through both backends."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mamfast.clients.mediainfo import (
    backend_command,
    format_clock,
    format_duration,
    probe,
)
from mamfast.config import Settings
from mamfast.errors import ConfigError, MediaInfoError, TransientError
from mamfast.library.selection import book_audio, natural_key

AUDIO = Path(__file__).resolve().parent / "fixtures" / "audio"
HAVE_CLI = shutil.which("mediainfo") is not None
BACKENDS = [
    pytest.param(None, id="cli", marks=pytest.mark.skipif(not HAVE_CLI, reason="no mediainfo")),
    pytest.param("bundled", id="bundled"),
]


def settings_for(cmd: str | None, **extra: object) -> Settings:
    return Settings(_env_file=None, mediainfo_cmd=cmd, **extra)  # type: ignore[call-arg]


def book_folder(tmp_path: Path, *names: str, source: str = "book.m4b") -> Path:
    folder = tmp_path / "Some Book (2020) (An Author) {ASIN.B000000001}"
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copyfile(AUDIO / source, folder / name)
    return folder


def test_default_backend_is_the_cli_when_installed_else_bundled(monkeypatch):
    prefix, backend = backend_command(settings_for(None))
    assert backend == ("cli" if HAVE_CLI else "bundled")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    prefix, backend = backend_command(settings_for(None))
    assert backend == "bundled" and prefix == [
        sys.executable,
        "-m",
        "mamfast.clients.mediainfo_child",
    ]


@pytest.mark.parametrize("cmd", BACKENDS)
async def test_m4b_fields_and_one_chapter_menu(cmd):
    result = await probe([AUDIO / "book.m4b"], settings_for(cmd))
    info = result.info
    assert info.duration_s == pytest.approx(5.0, abs=0.01)
    assert (info.container, info.format, info.codec) == ("M4B", "MPEG-4", "AAC LC")
    assert info.codec_id == "mp4a-40-2"
    assert (info.bitrate_mode, info.sample_rate, info.channels) == ("CBR", 44100, 1)
    assert 60_000 < (info.bitrate or 0) < 70_000
    assert info.codec_label == "AAC LC (CBR ~64 kb/s)"
    # The MP4 holds the chapters twice (text track + Nero list): counted once.
    assert [(c.start_s, c.title) for c in info.chapters] == [(0.0, "Chapter 1"), (2.5, "Chapter 2")]
    assert info.chapterized
    assert info.tags["Performer"] == "Test Author" and info.tags["Composer"] == "Test Narrator"


@pytest.mark.parametrize("cmd", BACKENDS)
async def test_mp3_fields(cmd):
    info = (await probe([AUDIO / "track.mp3"], settings_for(cmd))).info
    assert (info.container, info.codec, info.bitrate, info.channels) == ("MP3", "MP3", 128000, 2)
    assert info.chapters == [] and not info.chapterized
    assert info.duration_s == pytest.approx(5.04, abs=0.02)


@pytest.mark.parametrize("cmd", BACKENDS)
async def test_multi_part_book_sums_duration_and_offsets_chapters(tmp_path, cmd):
    folder = book_folder(tmp_path, "Book - Part 10.m4b", "Book - Part 02.m4b", "Book - Part 01.m4b")
    files = book_audio(folder, [".m4b"])
    assert [f.name for f in files] == [
        "Book - Part 01.m4b",
        "Book - Part 02.m4b",
        "Book - Part 10.m4b",
    ]
    info = (await probe(files, settings_for(cmd))).info
    assert info.duration_s == pytest.approx(15.0, abs=0.05)
    assert [c.start_s for c in info.chapters] == pytest.approx([0, 2.5, 5, 7.5, 10, 12.5])
    assert info.codec == "AAC LC" and info.files[0] == "Book - Part 01.m4b"


async def test_mp3_per_chapter_book_gets_a_chapter_per_file(tmp_path):
    folder = book_folder(tmp_path, "01.mp3", "02.mp3", source="track.mp3")
    info = (await probe(book_audio(folder, [".mp3"]), settings_for("bundled"))).info
    assert [c.title for c in info.chapters] == ["Track 1", "Track 1"]
    assert info.chapters_source == "files" and not info.chapterized


@pytest.mark.skipif(not HAVE_CLI, reason="needs the mediainfo CLI to compare against")
async def test_both_backends_give_the_same_parsed_result(tmp_path):
    folder = book_folder(tmp_path, "B - Part 01.m4b", "B - Part 02.m4b")
    shutil.copyfile(AUDIO / "track.mp3", folder / "B - Part 03.mp3")
    # Mixed formats on purpose (both parsers must agree on each), so not a book's selection.
    files = sorted(folder.iterdir(), key=lambda p: natural_key(p.name))
    cli = await probe(files, settings_for(None))
    bundled = await probe(files, settings_for("bundled"))
    assert (cli.backend, bundled.backend) == ("cli", "bundled")
    assert cli.info == bundled.info
    for result in (cli, bundled):
        document = json.loads(result.document_json)
        assert document["media"]["@ref"] == "B - Part 01.m4b"  # no local path published
        assert [t["@type"] for t in document["media"]["track"]][:2] == ["General", "Audio"]


@pytest.mark.parametrize("cmd", BACKENDS)
async def test_corrupt_or_non_audio_file_is_a_clear_error(tmp_path, cmd):
    folder = book_folder(tmp_path)
    (folder / "noise.m4b").write_bytes(os.urandom(3000))
    (folder / "notes.mp3").write_text("these are not the droids you are looking for\n")
    for name in ("noise.m4b", "notes.mp3"):
        with pytest.raises(MediaInfoError, match=f"{name} has no audio track"):
            await probe([folder / name], settings_for(cmd))


@pytest.mark.parametrize("cmd", BACKENDS)
async def test_missing_file_is_a_clear_error(tmp_path, cmd):
    with pytest.raises(MediaInfoError, match=r"could not open gone\.m4b: it does not exist"):
        await probe([tmp_path / "gone.m4b"], settings_for(cmd))


@pytest.mark.parametrize("cmd", BACKENDS)
@pytest.mark.parametrize(
    ("source", "keep"),
    # The MP4's streams outgrow the file, or (cut inside its header) MediaInfo flags it and
    # cannot size the audio; an MP3 header promises more frames than there are.
    [("book.m4b", 2), ("book.m4b", 40), ("track.mp3", 3)],
    ids=["m4b", "m4b-header", "mp3"],
)
async def test_truncated_file_is_refused_though_its_header_promises_the_full_length(
    tmp_path, cmd, source, keep
):
    # MediaInfo reads the duration from the header: a file cut short (an interrupted
    # download) still shows it, and would become a torrent of a broken book.
    data = (AUDIO / source).read_bytes()
    cut = tmp_path / f"cut{Path(source).suffix}"
    cut.write_bytes(data[: len(data) // keep])
    with pytest.raises(MediaInfoError, match=rf"{cut.name} is truncated"):
        await probe([cut], settings_for(cmd))


@pytest.mark.parametrize("cmd", BACKENDS)
@pytest.mark.parametrize("tail", [b"TAG" + bytes(125), os.urandom(1 << 20)], ids=["tag", "noise"])
async def test_bytes_after_a_complete_file_are_not_truncation(tmp_path, cmd, tail):
    # MediaInfo flags these IsTruncated (it reads the tail as a box), but the audio is whole.
    padded = tmp_path / "padded.m4b"
    padded.write_bytes((AUDIO / "book.m4b").read_bytes() + tail)
    info = (await probe([padded], settings_for(cmd))).info
    assert info.duration_s == pytest.approx(5.0, abs=0.01)


@pytest.mark.parametrize("cmd", BACKENDS)
async def test_audio_in_a_file_with_another_format_s_extension_is_refused(tmp_path, cmd):
    mislabelled = tmp_path / "Book.m4b"
    shutil.copyfile(AUDIO / "track.mp3", mislabelled)
    with pytest.raises(MediaInfoError, match=r"Book\.m4b holds MP3 audio \(MPEG Audio\)"):
        await probe([mislabelled], settings_for(cmd))


def fake_mediainfo(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-mediainfo"
    script.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid\n{body}\n")
    script.chmod(0o755)
    return str(script)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_hung_mediainfo_is_killed_on_timeout(tmp_path):
    cmd = fake_mediainfo(tmp_path, "exec sleep 60")
    with pytest.raises(TransientError, match="did not finish within"):
        await probe([AUDIO / "book.m4b"], settings_for(cmd, mediainfo_timeout=0.5))
    assert not alive(int((tmp_path / "pid").read_text()))


async def test_cancelled_probe_kills_the_child(tmp_path):
    cmd = fake_mediainfo(tmp_path, "exec sleep 60")
    task = asyncio.create_task(probe([AUDIO / "book.m4b"], settings_for(cmd)))
    while not (tmp_path / "pid").exists():
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(int((tmp_path / "pid").read_text()))


async def test_crashing_mediainfo_is_reported_not_fatal(tmp_path):
    cmd = fake_mediainfo(tmp_path, "kill -SEGV $$")
    with pytest.raises(MediaInfoError, match=r"crashed \(signal 11\)"):
        await probe([AUDIO / "book.m4b"], settings_for(cmd))


async def test_a_custom_command_that_fails_is_suspected_before_the_file(tmp_path):
    with pytest.raises(MediaInfoError) as info:
        await probe([AUDIO / "book.m4b"], settings_for("/bin/false"))
    assert "exit status 1" in info.value.message
    assert info.value.hint.startswith("MAMFAST_MEDIAINFO_CMD may not be a working mediainfo")


async def test_garbage_output_is_reported(tmp_path):
    cmd = fake_mediainfo(tmp_path, "echo 'General: yes'")
    with pytest.raises(MediaInfoError, match="not JSON"):
        await probe([AUDIO / "book.m4b"], settings_for(cmd))


async def test_unknown_command_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="was not found"):
        await probe([AUDIO / "book.m4b"], settings_for(str(tmp_path / "no-such-mediainfo")))


def test_child_entry_points_print_cli_shaped_json():
    for argv in (
        [sys.executable, "-m", "mamfast.clients.mediainfo_child"],
        [str(Path(sys.executable).with_name("mamfast-mediainfo"))],
    ):
        one = subprocess.run([*argv, str(AUDIO / "book.m4b")], capture_output=True, check=True)
        assert json.loads(one.stdout)["media"]["track"][0]["@type"] == "General"
        two = subprocess.run(
            [*argv, str(AUDIO / "book.m4b"), str(AUDIO / "track.mp3")],
            capture_output=True,
            check=True,
        )
        assert isinstance(json.loads(two.stdout), list)
    usage = subprocess.run(
        [sys.executable, "-m", "mamfast.clients.mediainfo_child"], capture_output=True
    )
    assert usage.returncode == 2 and b"usage" in usage.stderr


def test_duration_and_clock_formats():
    assert format_duration(8 * 3600 + 20 * 60 + 10) == "8h 20m"
    assert format_duration(42 * 60) == "42m"
    assert format_duration(5.0) == "5s"
    assert format_clock(3 * 3600 + 2 * 60 + 1.9) == "03:02:01"
