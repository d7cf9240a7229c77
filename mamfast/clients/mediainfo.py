"""MediaInfo: what the audio files are (duration, codec, bitrate, chapters).

Two backends behind `probe()`, both run as a child process with a timeout
(killed on timeout or cancellation by `run_child`):

* `mediainfo --Output=JSON` when the CLI is installed (or MAMFAST_MEDIAINFO_CMD);
* `python -m mamfast.clients.mediainfo_child`, which prints the same JSON from the
  libmediainfo bundled in the pymediainfo wheel (MAMFAST_MEDIAINFO_CMD=bundled
  forces it).

All files of a book go to one call. The JSON is read through pydantic models;
values in it are strings. Duration is the sum over all files, codec and
friends come from the first file, chapters from one Menu track per file (MP4
files carry their chapters twice: a QuickTime text track and a Nero list).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from mamfast.config import Settings
from mamfast.errors import ConfigError, MediaInfoError
from mamfast.fs.children import run_child

CHAPTER_KEY = re.compile(r"^_(\d+)_(\d{2})_(\d{2})_(\d{3})$")
LANG_PREFIX = re.compile(r"^[a-z]{2,3}:(?=\S)")  # "en:Chapter 1" in some files
TAG_FIELDS = ("Title", "Album", "Track", "Performer", "Album_Performer", "Composer", "Genre")
Backend = Literal["cli", "bundled", "custom"]
# What MediaInfo's General.Format must be for each extension MAM lists as a format.
EXPECTED_FORMAT = {".m4b": "MPEG-4", ".m4a": "MPEG-4", ".mp3": "MPEG Audio"}
FORMAT_KIND = {"MPEG Audio": "MP3", "MPEG-4": "MP4/M4B"}


# --------------------------------------------------------------------------- the JSON


class Track(BaseModel):
    """One `track` entry; every field MediaInfo prints is kept (all strings)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str = Field(alias="@type")
    typeorder: str | None = Field(default=None, alias="@typeorder")
    extra: dict[str, Any] = Field(default_factory=dict)

    def get(self, name: str) -> str | None:
        value = (self.model_extra or {}).get(name)
        return None if value is None else str(value)


class Media(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    ref: str = Field(default="", alias="@ref")
    track: list[Track] = Field(default_factory=list)

    def first(self, kind: str) -> Track | None:
        return next((t for t in self.track if t.type == kind), None)


class MediaInfoDocument(BaseModel):
    model_config = ConfigDict(extra="allow")

    media: Media | None = None
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)  # as printed, for MAM's field

    @classmethod
    def from_raw(cls, raw: Any) -> MediaInfoDocument:
        document = cls.model_validate(raw)
        document._raw = raw
        return document


# --------------------------------------------------------------------------- our summary


class ChapterMark(BaseModel):
    start_s: float
    title: str


class AudioInfo(BaseModel):
    """What the description, tags and checks need, for the whole book."""

    files: list[str]
    duration_s: float
    container: str  # from the extension: M4B, MP3, M4A
    format: str  # MediaInfo's General.Format: MPEG-4, MPEG Audio
    codec: str  # AAC LC, xHE-AAC, MP3, E-AC-3 JOC
    codec_id: str | None = None
    bitrate: int | None = None  # bits per second
    bitrate_mode: str | None = None  # CBR / VBR
    sample_rate: int | None = None
    channels: int | None = None
    chapters: list[ChapterMark] = Field(default_factory=list)
    chapters_source: Literal["menu", "files"] | None = None
    tags: dict[str, str] = Field(default_factory=dict)  # first file's General tags

    @property
    def codec_label(self) -> str:
        """ "AAC LC (CBR ~64 kb/s)", the form MAM uploaders use."""
        details = " ".join(
            part
            for part in (
                self.bitrate_mode,
                f"~{round(self.bitrate / 1000)} kb/s" if self.bitrate else "",
            )
            if part
        )
        return f"{self.codec} ({details})" if details else self.codec

    @property
    def chapterized(self) -> bool:
        return self.chapters_source == "menu" and len(self.chapters) > 1


class Probe(BaseModel):
    """A probe's result: the summary plus the first file's JSON for MAM's mediaInfo field."""

    info: AudioInfo
    document_json: str
    backend: Backend


# --------------------------------------------------------------------------- running it


def backend_command(settings: Settings) -> tuple[list[str], Backend]:
    """The argv prefix to run, and which backend it is."""
    configured = (settings.mediainfo_cmd or "").strip()
    if configured.lower() == "bundled":
        return bundled_command(), "bundled"
    if configured:
        return [*shlex.split(configured), "--Output=JSON"], "custom"
    if shutil.which("mediainfo"):
        return ["mediainfo", "--Output=JSON"], "cli"
    return bundled_command(), "bundled"


def bundled_command() -> list[str]:
    return [sys.executable, "-m", "mamfast.clients.mediainfo_child"]


async def probe(paths: Sequence[Path], settings: Settings) -> Probe:
    """Run MediaInfo on every file of a book (one child process) and summarise."""
    if not paths:
        raise MediaInfoError("no audio files to read", hint="the release folder has no audio")
    prefix, backend = backend_command(settings)
    argv = [*prefix, *(str(p.resolve()) for p in paths)]
    try:
        result = await run_child(
            argv, timeout=settings.mediainfo_timeout, what=f"MediaInfo ({backend})"
        )
    except FileNotFoundError:
        raise ConfigError(
            f"the MediaInfo command {prefix[0]!r} was not found",
            hint="install mediainfo, fix MAMFAST_MEDIAINFO_CMD, or set it to `bundled`",
        ) from None
    if result.returncode != 0:
        raise MediaInfoError(
            f"MediaInfo ({backend}) failed on {_names(paths)}: {_exit_text(result.returncode)}"
            + (f": {result.stderr_tail()}" if result.stderr_tail() else ""),
            hint=(
                "MAMFAST_MEDIAINFO_CMD may not be a working mediainfo (try it on the file); "
                "else the file is corrupt"
                if backend == "custom"
                else "the file may be corrupt; check it plays, replace it in the library"
            )
            + ", then `mamfast retry ASIN`",
        )
    documents = parse_output(result.stdout, paths)
    info = summarize(documents, paths)
    return Probe(info=info, document_json=document_json(documents[0]), backend=backend)


def parse_output(stdout: bytes, paths: Sequence[Path]) -> list[MediaInfoDocument]:
    """One document per file, whether MediaInfo printed one object or a list."""
    try:
        data = json.loads(stdout)
    except ValueError:
        raise MediaInfoError(
            f"MediaInfo printed something that is not JSON for {_names(paths)} "
            f"(starts {stdout[:60]!r})",
            hint="check MAMFAST_MEDIAINFO_CMD runs `mediainfo` (JSON output needs v18+)",
        ) from None
    items = data if isinstance(data, list) else [data]
    if len(items) != len(paths):
        raise MediaInfoError(
            f"MediaInfo described {len(items)} files but was given {len(paths)}",
            hint="check MAMFAST_MEDIAINFO_CMD",
        )
    try:
        return [MediaInfoDocument.from_raw(item) for item in items]
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise MediaInfoError(
            f"MediaInfo's JSON for {_names(paths)} has an unexpected shape ({problem})",
            hint="check MAMFAST_MEDIAINFO_CMD runs a recent mediainfo",
        ) from None


def document_json(document: MediaInfoDocument) -> str:
    """The JSON for MAM's mediaInfo field, with the local path cut to the file name."""
    data = copy.deepcopy(document._raw)
    media = data.get("media") or {}
    if isinstance(media.get("@ref"), str):
        media["@ref"] = Path(media["@ref"]).name  # never publish our folder layout
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------- summarising


def summarize(documents: Sequence[MediaInfoDocument], paths: Sequence[Path]) -> AudioInfo:
    tracks = [_audio_tracks(doc, path) for doc, path in zip(documents, paths, strict=True)]
    for doc, (general, _), path in zip(documents, tracks, paths, strict=True):
        _check_whole(doc, general, path)
        _check_format(general, path)
    general, audio = tracks[0]
    durations = [_duration(g, a, p) for (g, a), p in zip(tracks, paths, strict=True)]
    chapters, source = _chapters(documents, durations, paths)
    return AudioInfo(
        files=[p.name for p in paths],
        duration_s=round(sum(durations), 3),
        container=paths[0].suffix.lstrip(".").upper(),
        format=general.get("Format") or "unknown",
        codec=codec_name(audio),
        codec_id=audio.get("CodecID"),
        bitrate=_int(audio.get("BitRate")) or _int(general.get("OverallBitRate")),
        bitrate_mode=audio.get("BitRate_Mode") or general.get("OverallBitRate_Mode"),
        sample_rate=_int(audio.get("SamplingRate")),
        channels=_int(audio.get("Channels")),
        chapters=chapters,
        chapters_source=source,
        tags={k: v for k in TAG_FIELDS if (v := general.get(k))},
    )


def _audio_tracks(doc: MediaInfoDocument, path: Path) -> tuple[Track, Track]:
    if doc.media is None:
        raise MediaInfoError(
            f"MediaInfo could not open {path.name}: {_why_unopenable(path)}",
            hint="check the file exists and is readable by the user mamfast runs as "
            "(PUID/PGID), then `mamfast retry ASIN`",
        )
    general = doc.media.first("General")
    audio = doc.media.first("Audio")
    if general is None or audio is None:
        seen = (general.get("Format") if general else None) or "no known format"
        raise MediaInfoError(
            f"{path.name} has no audio track (MediaInfo sees {seen})",
            hint="the file is damaged or not audio; replace it in the library, "
            "then `mamfast retry ASIN`",
        )
    return general, audio


def _why_unopenable(path: Path) -> str:
    """MediaInfo only says it could not open the file; the system says why."""
    try:
        with path.open("rb"):
            return "it opens, but MediaInfo cannot read it"
    except FileNotFoundError:
        return "it does not exist"
    except PermissionError:
        return f"permission denied (mamfast runs as uid {os.geteuid()})"
    except OSError as exc:
        return exc.strerror or str(exc)


def _check_whole(doc: MediaInfoDocument, general: Track, path: Path) -> None:
    """MediaInfo takes the duration from the header, so a file cut short (an interrupted
    download or copy) still shows its full length: the header promises more than is there.

    Its own IsTruncated flag also fires on bytes appended after a complete file (a stray
    tag), so it counts only when the audio's size is unknown; otherwise the streams must
    add up to more than the file holds.
    """
    assert doc.media is not None
    sizes = [_int(t.get("StreamSize")) for t in doc.media.track]
    audio_size = next(
        (size for t, size in zip(doc.media.track, sizes, strict=True) if t.type == "Audio"), None
    )
    flagged = (general.extra.get("IsTruncated") or "").lower() == "yes" and audio_size is None
    size = _int(general.get("FileSize"))
    if flagged or (size is not None and sum(s or 0 for s in sizes) > size):
        raise MediaInfoError(
            f"{path.name} is truncated: it ends before its audio does "
            "(an interrupted download or copy)",
            hint="download the book again in Libation (or restore the file), then "
            "`mamfast retry ASIN`",
        )


def _check_format(general: Track, path: Path) -> None:
    """A file whose content is another format than its extension says would be listed
    on MAM as the wrong format."""
    expected = EXPECTED_FORMAT.get(path.suffix.lower())
    found = general.get("Format")
    if expected is None or found is None or found == expected:
        return
    kind = FORMAT_KIND.get(found, found)
    raise MediaInfoError(
        f"{path.name} holds {kind} audio ({found}), not the {expected} its "
        f"{path.suffix} extension says",
        hint="give the file the extension of its format in the library (or convert it), "
        "then `mamfast retry ASIN`",
    )


def _duration(general: Track, audio: Track, path: Path) -> float:
    for value in (general.get("Duration"), audio.get("Duration")):
        seconds = _float(value)
        if seconds and seconds > 0:
            return seconds
    raise MediaInfoError(
        f"{path.name} has no duration (the audio stream is empty or damaged)",
        hint="replace the file in the library, then `mamfast retry ASIN`",
    )


def codec_name(audio: Track) -> str:
    fmt = audio.get("Format") or "unknown"
    features = audio.get("Format_AdditionalFeatures") or ""
    codec_id = audio.get("CodecID") or ""
    if fmt == "USAC" or codec_id == "mp4a-40-42":
        return "xHE-AAC"
    if fmt == "AAC":
        return f"AAC {features}".strip()
    if fmt == "MPEG Audio":
        layer = (audio.get("Format_Profile") or "").replace("Layer ", "")
        return {"3": "MP3", "2": "MP2"}.get(layer, "MPEG Audio")
    if fmt == "E-AC-3" and "JOC" in features:
        return "E-AC-3 JOC (Dolby Atmos)"
    return fmt


def _chapters(
    documents: Sequence[MediaInfoDocument], durations: Sequence[float], paths: Sequence[Path]
) -> tuple[list[ChapterMark], Literal["menu", "files"] | None]:
    """Chapters of the whole book, offset by the files before them.

    A multi-file book whose files have no chapter menu (one MP3 per chapter)
    gets one chapter per file instead.
    """
    marks: list[ChapterMark] = []
    from_menus = 0
    offset = 0.0
    for doc, duration, path in zip(documents, durations, paths, strict=True):
        menu = _menu_chapters(doc)
        if menu:
            from_menus += 1
            marks.extend(ChapterMark(start_s=offset + m.start_s, title=m.title) for m in menu)
        elif len(paths) > 1:
            marks.append(ChapterMark(start_s=offset, title=_file_title(doc, path)))
        offset += duration
    if not marks:
        return [], None
    return marks, "menu" if from_menus else "files"


def _menu_chapters(doc: MediaInfoDocument) -> list[ChapterMark]:
    """The first Menu track with chapter keys; the second copy in MP4 files is ignored."""
    assert doc.media is not None
    for track in doc.media.track:
        if track.type != "Menu":
            continue
        marks = [
            ChapterMark(start_s=_timestamp(match), title=LANG_PREFIX.sub("", str(title)).strip())
            for key, title in track.extra.items()
            if (match := CHAPTER_KEY.match(key))
        ]
        if marks:
            return sorted(marks, key=lambda m: m.start_s)
    return []


def _timestamp(match: re.Match[str]) -> float:
    hours, minutes, seconds, millis = (int(g) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _file_title(doc: MediaInfoDocument, path: Path) -> str:
    assert doc.media is not None
    general = doc.media.first("General")
    return (general.get("Title") if general else None) or path.stem


# --------------------------------------------------------------------------- helpers


def _int(value: str | None) -> int | None:
    number = _float(value)
    return None if number is None else round(number)


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.split("/")[0])  # "48000 / 24000" for some HE-AAC files
    except ValueError:
        return None


def _names(paths: Sequence[Path]) -> str:
    names = [p.name for p in paths[:3]]
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return ", ".join(names) + more


def _exit_text(code: int) -> str:
    return f"crashed (signal {-code})" if code < 0 else f"exit status {code}"


def format_duration(seconds: float) -> str:
    """ "8h 20m" as MAM tags write it; books under an hour read "42m", under a minute "5s"."""
    total = round(seconds)
    hours, minutes = total // 3600, (total % 3600) // 60
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{total}s"


def format_clock(seconds: float) -> str:
    """HH:MM:SS for chapter lists."""
    total = int(seconds)
    return f"{total // 3600:02d}:{(total % 3600) // 60:02d}:{total % 60:02d}"
