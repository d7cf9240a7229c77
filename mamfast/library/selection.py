"""Which files of a book folder make the book: one audio format, in reading order.

The one owner of the audio extensions and of the natural sort ("Part 2"
before "Part 10"): discovery, staging, the metadata stage, `mamfast mamjson`
and the MAM file names all pick and order a book's files through here, so
they never disagree about which files are the book or in which order.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from mamfast.library.metadata import is_metadata_file

# The audio a book on MAM is made of, in order of preference when a folder holds several
# formats (a book is one format on MAM).
AUDIO_EXTENSIONS = (".m4b", ".m4a", ".mp3")
ENCRYPTED_AUDIO = (".aax", ".aaxc")


def natural_key(name: str) -> list[Any]:
    """Sort "Part 2" before "Part 10" (and case does not matter)."""
    return [int(t) if t.isdigit() else t.casefold() for t in re.split(r"(\d+)", name)]


def suffix(name: str) -> str:
    """The lower-cased extension (`.m4b`); "" for none or a name that is only an extension."""
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def has_audio(names: Iterable[str]) -> bool:
    return any(suffix(n) in AUDIO_EXTENSIONS for n in names)


def is_encrypted(name: str) -> bool:
    return suffix(name) in ENCRYPTED_AUDIO


class FileSelection(BaseModel):
    """Which files of a book folder are staged."""

    audio: list[str] = Field(default_factory=list)
    extras: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    problem: str | None = None  # why there is no usable audio

    @property
    def files(self) -> list[str]:
        return sorted([*self.audio, *self.extras], key=natural_key)


def select_files(names: Iterable[str], allowed: Sequence[str]) -> FileSelection:
    """Audio of one format plus allowed ancillaries; never Libation's metadata or hidden files."""
    allowed_set = {ext.lower() for ext in allowed}
    by_ext: dict[str, list[str]] = defaultdict(list)
    for name in sorted(names, key=natural_key):
        if name.startswith(".") or is_metadata_file(name):
            continue
        by_ext[suffix(name)].append(name)
    selection = FileSelection()
    formats = [ext for ext in AUDIO_EXTENSIONS if by_ext.get(ext) and ext in allowed_set]
    if formats:
        selection.audio = by_ext[formats[0]]
        if len(formats) > 1:
            others = ", ".join(formats[1:])
            selection.warnings.append(
                f"audio: the folder also holds {others} files; only the {formats[0]} files "
                "are staged (one format per torrent)"
            )
    else:
        selection.problem = _no_audio_reason(by_ext)
    selection.extras = [
        name
        for ext, found in by_ext.items()
        if ext in allowed_set and ext not in AUDIO_EXTENSIONS
        for name in found
    ]
    return selection


def book_audio(folder: Path, allowed: Sequence[str]) -> list[Path]:
    """The audio files of a book folder (Libation's or a staged one) in reading order."""
    names = [p.name for p in folder.iterdir() if p.is_file()]
    return [folder / name for name in select_files(names, allowed).audio]


def _no_audio_reason(by_ext: dict[str, list[str]]) -> str:
    present = [ext for ext in AUDIO_EXTENSIONS if by_ext.get(ext)]
    if present:
        return (
            f"its audio ({', '.join(present)}) is not in MAMFAST_ALLOWED_EXTENSIONS; "
            "add the extension to stage it"
        )
    if any(by_ext.get(ext) for ext in ENCRYPTED_AUDIO):
        return "holds only encrypted .aax/.aaxc audio: let Libation decrypt it first"
    return "no audio files (.m4b, .m4a or .mp3)"


def missing_parts(names: Sequence[str], bad: dict[str, str], allowed: Sequence[str]) -> str | None:
    """Why the book cannot be staged when a file it would stage is a bad link, else None.

    `bad` maps link names to what is wrong with them. Dropping such a file would quietly
    publish an incomplete book, and renumber the parts after it. Shared with staging.
    """
    if not bad:
        return None  # nothing is missing (and every unchanged folder of a rescan asks)
    chosen = set(select_files([*names, *bad], allowed).files)
    wrong = [f"{name} {bad[name]}" for name in sorted(bad, key=natural_key) if name in chosen]
    if not wrong:
        return None
    return (
        f"{'; '.join(wrong)}: a part of the book is missing, and a book is never staged "
        "with a part missing"
    )
