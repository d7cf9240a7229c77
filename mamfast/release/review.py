"""The "review before upload" checklist: MAM's upload-helper checks, run ahead of time.

MAM's Upload Helper marks some gaps as errors (the form cannot be submitted
without them: poster, title, authors, both category systems, media type,
tags, mediainfo) and others as warnings (missing narrators, initials run
together, a series name that is really a reading line, tags ending in a
separator...). Fast fill is a privilege on MAM and the uploader must check
every field, so these are written as plain sentences saying what to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mamfast.clients.mediainfo import AudioInfo, format_duration
from mamfast.release.bookdata import BookFacts
from mamfast.release.mamjson import FastFill

RUNTIME_TOLERANCE = 0.05
_INITIALS = re.compile(r"[A-Z][A-Z]")
_TITLE_TAIL = re.compile(r"(^.+)(?:[:꞉]\s+([^:]+))$")
_READING_LINE = re.compile(
    r"A\s+((Novel|Memoir)|.*\s+(Mystery|Novel|Novella|Fantasy(\s+Adventure)?|Romance))$", re.I
)
_SERIES_LINE = re.compile(r"(A\s+.*\s+(Prequel|Standalone))|(Series)$", re.I)
_SERIES_NAME = re.compile(r"^(the|a) .* (book|novel|novella|series?|saga)$", re.I)
_SERIES_SUFFIX = re.compile(r"series$", re.I)
_TAG_EDGE = re.compile(r"([,|])\s*$|^\s*([,|])")
# Titles and degrees MAM uploaders strip from author and narrator names: a word of
# its own at the start ("Dr. Jane Doe", "Sir Terry") or after the name ("Jane Doe, PhD").
_HONORIFIC_WORDS = (
    r"Dr|Doctor|Sir|Dame|Lord|Lady|Col|Colonel|Capt|Captain|Gen|General|Lt|Maj|Major|Sgt"
    r"|Cmdr|Adm|Prof|Professor|Rev|Reverend|Fr|Rabbi|Mr|Mrs|Ms|Mx"
)
_HONORIFIC_PREFIX = re.compile(rf"^(?:{_HONORIFIC_WORDS})\.?(?=\s)", re.IGNORECASE)
_DEGREE = re.compile(
    r"(?:,\s*|\s+)(Ph\.?\s?D|M\.?D|D\.?O|Psy\.?D|Ed\.?D|DDS|DVM|MBA|MSW|LCSW|RN|Esq|"
    r"M\.?A|M\.?Sc?|B\.?A|J\.?D|OBE|MBE|CBE|KBE)\.?(?=\s*(?:$|,))"
)
# Flags Audible's data never tells (crude language, violence, explicit sex): the uploader's.
HAND_FLAGS = "crude language (cLang), violence (vio), explicit sexual content (eSex)"


@dataclass
class Review:
    blocking: list[str] = field(default_factory=list)  # MAM's form refuses these
    checks: list[str] = field(default_factory=list)  # worth a look

    @property
    def sentences(self) -> list[str]:
        return [*self.blocking, *self.checks]


def review(
    ff: FastFill,
    facts: BookFacts,
    audio: AudioInfo,
    *,
    cover_file: str | None = None,
    audnex_problem: str | None = None,
) -> Review:
    result = Review(blocking=blocking(ff, cover_file))
    result.checks = [
        *_source_checks(facts, audnex_problem),
        *_people_checks(ff),
        *_title_and_series_checks(ff, facts),
        *_content_checks(ff, facts, audio),
    ]
    return result


def blocking(ff: FastFill, cover_file: str | None = None) -> list[str]:
    """What MAM's Upload Helper calls errors: the upload form cannot be sent without these."""
    out = []
    if not ff.thumbnail:
        where = f" ({cover_file} is in the release folder)" if cover_file else ""
        out.append(f"No cover URL: upload the cover image on the form{where}.")
    if not ff.title.strip():
        out.append("The title is empty: type it in.")
    if not ff.authors:
        out.append("No author: add the author(s) on the form.")
    if not ff.category:
        out.append("No audiobook category (the old single category): pick one on the form.")
    if not ff.categories:
        out.append("No MAM category matched the book's genres: tick at least one on the form.")
    if ff.media_type != 1:
        out.append("The media type is not Audiobook: set it on the form.")
    if not ff.tags.strip():
        out.append("The tags are empty: add length, release date and format.")
    if not ff.media_info.strip():
        out.append("MediaInfo is missing: paste `mediainfo --Output=JSON` of the first file.")
    return out


def _source_checks(facts: BookFacts, audnex_problem: str | None) -> list[str]:
    out = []
    if facts.source != "audnex":
        why = f" ({audnex_problem})" if audnex_problem else ""
        out.append(
            f"Audnex could not help{why}, so title, series and description come from "
            "Libation's metadata: compare them with the book's Audible page."
        )
    if facts.swapped:
        out.append(
            f"Audible's title and subtitle were swapped: check that title {facts.title!r} and "
            f"subtitle {facts.subtitle or ''!r} match the book's Audible page."
        )
    if facts.series_guessed and facts.series:
        first = facts.series[0]
        number = f" #{first.number}" if first.number else ""
        out.append(f"The series {first.name!r}{number} was read from the title: check it.")
    return out


def _people_checks(ff: FastFill) -> list[str]:
    out = []
    if not ff.narrators:
        out.append("No narrator is listed: add the narrator(s); MAM expects them for audiobooks.")
    for label, names in (("author", ff.authors), ("narrator", ff.narrators)):
        out.extend(
            f"The {label} {name!r} has initials run together: split them (e.g. 'J. R. R.')."
            for name in names
            if _INITIALS.search(name)
        )
        out.extend(
            f"The {label} {name!r} carries a title or degree ({found}): MAM lists people "
            "without them; remove it unless it is part of the name."
            for name in names
            if (found := honorific(name))
        )
    return out


def honorific(name: str) -> str | None:
    """The honorific or degree in a person's name ("Dr.", "PhD"), None when there is none."""
    match = _HONORIFIC_PREFIX.match(name.strip()) or _DEGREE.search(name.strip())
    if match is None:
        return None
    return (match.group(1) if match.lastindex else match.group(0)).strip()


def _title_and_series_checks(ff: FastFill, facts: BookFacts) -> list[str]:
    out = []
    full = f"{ff.title}: {ff.subtitle}" if ff.subtitle else ff.title
    match = _TITLE_TAIL.match(full)
    tail = match.group(2) if match else None
    if tail and _READING_LINE.search(tail):
        out.append(f"The title may include a reading line ({tail!r}): check it.")
    if tail and _SERIES_LINE.search(tail):
        out.append(f"The title may include a series name ({tail!r}): check it.")
    out.extend(
        f"The series name {s.name!r} looks like a reading line: check it."
        for s in ff.series
        if _SERIES_NAME.search(s.name) or _SERIES_SUFFIX.search(s.name)
    )
    if not ff.language and facts.language:
        out.append(
            f"Audible gives the language {facts.language!r}, which is not on MAM's list: "
            "pick it (or Other) on the form."
        )
    elif not ff.language:
        out.append("The language is unknown: pick it on the form.")
    return out


def _codec_checks(audio: AudioInfo) -> list[str]:
    """Codecs MAM warns about: Audible's newer downloads can be xHE-AAC (USAC) or
    Dolby Atmos (E-AC-3 JOC), which many players and devices cannot play."""
    codec = audio.codec.casefold()
    if codec.startswith("xhe-aac") or (audio.codec_id or "").casefold() == "mp4a-40-42":
        return [
            "The audio is xHE-AAC (USAC), which many players cannot play: say so in the "
            "description, or download the book again as AAC LC before uploading."
        ]
    if "e-ac-3" in codec or "atmos" in codec:
        kind = "Dolby Atmos (E-AC-3 JOC)" if "joc" in codec or "atmos" in codec else "E-AC-3"
        return [
            f"The audio is {kind}, which many audiobook players cannot play: say so in the "
            "description, or download the book again as AAC LC before uploading."
        ]
    return []


def _content_checks(ff: FastFill, facts: BookFacts, audio: AudioInfo) -> list[str]:
    out = []
    if _TAG_EDGE.search(ff.tags):
        out.append("The tags start or end with a separator: remove it.")
    if ff.flags.get("sSex"):
        out.append(
            "Audible marks this book as adult: the 'some sexual content' flag is set; "
            "change it to explicit if that fits."
        )
    out.append(f"Tick by hand the flags Audible's data cannot tell: {HAND_FLAGS}.")
    out.extend(_codec_checks(audio))
    if facts.runtime_minutes:
        listed = facts.runtime_minutes * 60
        if abs(audio.duration_s - listed) > listed * RUNTIME_TOLERANCE:
            out.append(
                f"The files last {format_duration(audio.duration_s)} but Audible lists "
                f"{format_duration(listed)}: check that no part is missing."
            )
    if facts.listed_chapters and audio.chapters and facts.listed_chapters != len(audio.chapters):
        out.append(
            f"Audible lists {facts.listed_chapters} chapters but the files have "
            f"{len(audio.chapters)}: check the chapter list."
        )
    return out
