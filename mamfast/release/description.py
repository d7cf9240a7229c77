"""The BBCode description: synopsis HTML to BBCode, a Jinja2 template, MAM's line rules.

The template ships in `mamfast/templates/description.bbcode.j2`; a user's own
(MAMFAST_DESCRIPTION_TEMPLATE) gets the same variables. After rendering,
newlines are removed outside `[pre]` (MAM's editor turns them into breaks of
its own, so the template says `[br]` where it wants one), and inside `[pre]`
newlines become `[br]` and spaces no-break spaces (MAM collapses spaces).

Fixed against upstream: the header shows the cleaned, swap-repaired title
(the same one the JSON carries), the translator row names people without
their "- translator" suffix, and a synopsis never produces more than two
breaks in a row or trailing breaks.

Book text comes from Audible, Audnex and file tags, which anyone can write: it
must never become BBCode (a title holding `[img]...[/img]` would add a tracking
pixel to the upload page). Square brackets in it are shown as fullwidth
`［ ］`, in every variable a template gets, and a synopsis link is kept only
when its target is a plain http(s) URL (no brackets, quotes or spaces).
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, cast

import jinja2
from pydantic import BaseModel

from mamfast.clients.mediainfo import AudioInfo, ChapterMark, format_clock, format_duration
from mamfast.errors import ConfigError
from mamfast.release.bookdata import BookFacts, SeriesEntry
from mamfast.release.datafile import SHIPPED_TEMPLATES

TEMPLATES = SHIPPED_TEMPLATES
DEFAULT_TEMPLATE = "description.bbcode.j2"
NBSP = "\u00a0"
DEFAULT_SIGNATURE = "prepared with mamfast"
# Audnex's regions and the Audible store domain of each (Audible's marketplaces).
AUDIBLE_DOMAINS = {
    "us": "com",
    "ca": "ca",
    "uk": "co.uk",
    "au": "com.au",
    "fr": "fr",
    "de": "de",
    "jp": "co.jp",
    "it": "it",
    "in": "in",
    "es": "es",
}

_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_BREAKS = re.compile(r"(?:\s*\[br\]\s*){3,}")
_EDGE_BREAKS = re.compile(r"^(?:\s*\[br\]\s*)+|(?:\s*\[br\]\s*)+$")
_PRE = re.compile(r"(\[pre\].*?\[/pre\])", re.DOTALL | re.IGNORECASE)
_PRE_PARTS = re.compile(r"(\[pre\])\n?(.*?)\n?(\[/pre\])", re.DOTALL | re.IGNORECASE)
# http(s), a host, and nothing that could end the [url=...] tag or start another.
_LINK_TARGET = re.compile(r"https?://[^\s\[\]\"'<>]+", re.IGNORECASE)
_BRACKETS = str.maketrans({"[": "\uff3b", "]": "\uff3d"})
_INLINE = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
}


# --------------------------------------------------------------------------- HTML -> BBCode


class _ToBBCode(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._links: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INLINE:
            self.out.append(f"[{_INLINE[tag]}]")
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            safe = _LINK_TARGET.fullmatch(href) is not None
            self._links.append(safe)
            if safe:
                self.out.append(f"[url={href}]")
        elif tag == "br":
            self.out.append("[br]")
        elif tag == "li":
            self.out.append("[br]• ")
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.out.append("[br][b]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _INLINE:
            self.out.append(f"[/{_INLINE[tag]}]")
        elif tag == "a":
            if self._links and self._links.pop():
                self.out.append("[/url]")
        elif tag in ("p", "div", "ul", "ol"):
            self.out.append("[br][br]")
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.out.append("[/b][br]")

    def handle_data(self, data: str) -> None:
        self.out.append(plain_text(re.sub(r"\s+", " ", data)))  # HTML whitespace rules


def plain_text(text: str) -> str:
    """Outside text that can never be read as BBCode: its square brackets made fullwidth."""
    return text.translate(_BRACKETS)


def _plain(value: Any) -> Any:
    """`value` (a string, list, dict or model of them) with every string made plain_text."""
    if isinstance(value, str):
        return plain_text(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return value.model_copy(
            update={k: _plain(getattr(value, k)) for k in type(value).model_fields}
        )
    return value


def html_to_bbcode(text: str | None) -> str:
    """Audnex's summary (HTML) or Libation's (often plain text) as BBCode on one line."""
    if not text or not text.strip():
        return ""
    if _HTML_TAG.search(text):
        parser = _ToBBCode()
        parser.feed(text)
        parser.close()
        body = "".join(parser.out)
    else:
        body = plain_text(html.unescape(text)).replace("\r\n", "\n")
        body = re.sub(r"[ \t]+", " ", body).replace("\n", "[br]")
    return tidy_breaks(body)


def tidy_breaks(body: str) -> str:
    """At most two breaks in a row, none at either end (upstream made four after a `</p>`)."""
    body = _BREAKS.sub("[br][br]", body)
    body = _EDGE_BREAKS.sub("", body)
    return re.sub(r" *\[br\] *", "[br]", body).strip()


# --------------------------------------------------------------------------- rendering


def environment(template: Path | None) -> tuple[jinja2.Environment, str]:
    """The shipped template, or the user's file (its folder is the loader's root)."""
    if template is None:
        folder, name = TEMPLATES, DEFAULT_TEMPLATE
    else:
        if not template.is_file():
            raise ConfigError(
                f"description template {template} does not exist",
                hint="fix MAMFAST_DESCRIPTION_TEMPLATE or leave it empty for the shipped one",
            )
        folder, name = template.parent, template.name
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=False,  # BBCode, not HTML  # noqa: S701
        undefined=_NamedStrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["clock"] = format_clock
    env.filters["duration"] = format_duration
    env.filters["longdate"] = long_date
    return env, name


@dataclass(frozen=True)
class DescriptionTemplate:
    """A compiled description template, and how messages name it."""

    template: jinja2.Template
    source: str


def load_template(path: Path | None = None) -> DescriptionTemplate:
    """Read and compile the shipped template, or the user's file. Raises ConfigError."""
    env, name = environment(path)
    try:
        loaded = DescriptionTemplate(env.get_template(name), str(path or name))
    except jinja2.TemplateError as exc:
        raise _template_error(exc, str(path or name)) from None
    _try_on_a_sample(loaded)
    return loaded


def _try_on_a_sample(loaded: DescriptionTemplate) -> None:
    """Render once with a book that has every field, so a misspelt variable stops the
    worker at start instead of failing every release. Only unknown names count here:
    anything else a template does with real data shows up when it renders a book."""
    values = context(_SAMPLE_BOOK, _SAMPLE_AUDIO, DEFAULT_SIGNATURE, ["Fantasy"])
    try:
        loaded.template.render(**values)
    except _UnknownName as exc:
        raise _unknown_name_error(exc, loaded, sorted(values)) from None
    except Exception:
        return  # only unknown names stop the start (see the docstring)


_SAMPLE_BOOK = BookFacts(
    asin="B000000000",
    source="audnex",
    audnex_region="us",
    raw_title="Sample",
    title="Sample",
    subtitle="A Subtitle",
    authors=["Ann Author"],
    narrators=["Ned Narrator"],
    translators=["Tess Translator"],
    series=[SeriesEntry(name="Sample Series", number="1")],
    summary_html="<p>Sample.</p>",
    publisher="Sample Audio",
    release_date=date(2020, 1, 1),
    year="2020",
    language="English",
    genres=["Fantasy"],
    genre_tags=["Epic"],
    image_url="https://example.invalid/cover.jpg",
    abridged=True,
    literature_type="fiction",
    runtime_minutes=60.0,
    chapters=[ChapterMark(start_s=0, title="One"), ChapterMark(start_s=60, title="")],
    chapters_source="audnex",
    listed_chapters=2,
)
_SAMPLE_AUDIO = AudioInfo(
    files=["a - Part 01.m4b", "a - Part 02.m4b"],
    duration_s=3600,
    container="M4B",
    format="MPEG-4",
    codec="AAC LC",
    codec_id="mp4a-40-2",
    bitrate=64000,
    bitrate_mode="CBR",
    sample_rate=44100,
    channels=2,
    chapters=[ChapterMark(start_s=0, title="One")],
    chapters_source="menu",
    tags={"Album": "Sample"},
)


def render(
    facts: BookFacts,
    audio: AudioInfo,
    *,
    template: DescriptionTemplate | Path | None = None,
    signature: bool = True,
    signature_text: str = "",
    categories: list[str] | None = None,
) -> str:
    """The description; `template` is a loaded one, or a file (None: the shipped one).

    `signature` off leaves the signature out; `signature_text` replaces the
    default words (MAMFAST_DESCRIPTION_SIGNATURE_TEXT, BBCode allowed).
    """
    loaded = template if isinstance(template, DescriptionTemplate) else load_template(template)
    shown = (signature_text.strip() or DEFAULT_SIGNATURE) if signature else ""
    values = context(facts, audio, shown, categories or [])
    try:
        text = loaded.template.render(**values)
    except _UnknownName as exc:
        raise _unknown_name_error(exc, loaded, sorted(values)) from None
    except jinja2.TemplateError as exc:
        raise _template_error(exc, loaded.source) from None
    return finish(text)


class _UnknownName(jinja2.UndefinedError):
    """StrictUndefined's error, keeping which name was missing and on what."""

    def __init__(self, message: str | None = None, *, name: str | None, owner: Any) -> None:
        super().__init__(message)
        self.name = name
        self.owner = owner
        self.missing_owner = owner is jinja2.utils.missing


class _NamedStrictUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose error says which variable or field a template asked for."""

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = jinja2.utils.missing,
        name: str | None = None,
        exc: type[jinja2.exceptions.TemplateRuntimeError] = jinja2.UndefinedError,
    ) -> None:
        super().__init__(hint, obj, name, exc)
        # Every failing operation raises self._undefined_exception(message).
        self._undefined_exception = cast(
            "type[jinja2.exceptions.TemplateRuntimeError]",
            functools.partial(_UnknownName, name=name, owner=obj),
        )


def _unknown_name_error(
    exc: _UnknownName, loaded: DescriptionTemplate, names: list[str]
) -> ConfigError:
    line = _template_line(exc, loaded.template.filename)
    where = f" (line {line})" if line else ""
    if exc.missing_owner:
        what = f"uses the unknown variable {exc.name!r}"
        available = f"the variables are: {', '.join(names)}"
    else:
        what = f"asks {_kind(exc.owner)} for {exc.name!r}, which it does not have"
        available = f"it has: {', '.join(_fields(exc.owner)) or 'nothing'}"
    return ConfigError(
        f"the description template {loaded.source}{where} {what}; {available}",
        hint="fix MAMFAST_DESCRIPTION_TEMPLATE; the shipped template lists every variable",
    )


def _template_line(exc: BaseException, filename: str | None) -> int | None:
    """The template line the error came from (Jinja rewrites tracebacks to template lines)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _kind(owner: Any) -> str:
    if isinstance(owner, BaseModel):
        return {"BookFacts": "`book`", "AudioInfo": "`audio`"}.get(
            type(owner).__name__, type(owner).__name__
        )
    if isinstance(owner, dict):
        return "an entry with keys " + ", ".join(sorted(map(str, owner)))
    return f"a {type(owner).__name__} value"


def _fields(owner: Any) -> list[str]:
    if isinstance(owner, BaseModel):
        props = [n for n, v in vars(type(owner)).items() if isinstance(v, property)]
        return sorted({*type(owner).model_fields, *props})
    if isinstance(owner, dict):
        return sorted(map(str, owner))
    return []


def _template_error(exc: jinja2.TemplateError, source: str) -> ConfigError:
    where = f" (line {exc.lineno})" if isinstance(exc, jinja2.TemplateSyntaxError) else ""
    return ConfigError(
        f"the description template {source} failed{where}: {exc.message or exc}",
        hint="fix MAMFAST_DESCRIPTION_TEMPLATE; the shipped one lists every variable",
    )


def context(
    facts: BookFacts, audio: AudioInfo, signature: str, categories: list[str]
) -> dict[str, Any]:
    synopsis = html_to_bbcode(facts.summary_html)  # escapes its own text, keeps its tags
    facts, audio = _plain(facts), _plain(audio)
    return {
        "book": facts,
        "audio": audio,
        "title": facts.display_title,
        "synopsis": synopsis,
        "release_date": long_date(facts.release_date) if facts.release_date else facts.year,
        "duration": format_duration(audio.duration_s),
        "audible_url": audible_url(facts.asin, facts.audnex_region),
        "genres": facts.genre_tags or facts.genres,
        "categories": categories,
        "chapters": [
            {"start": format_clock(c.start_s), "title": c.title or f"Chapter {i}"}
            for i, c in enumerate(facts.chapters, start=1)
        ],
        "signature": signature,  # "" when off; the user's own text is BBCode, not escaped
    }


def audible_url(asin: str, region: str | None) -> str:
    """The book's page on the Audible store of the region Audnex found it in
    (an ASIN sold only in the UK has no page on audible.com)."""
    domain = AUDIBLE_DOMAINS.get((region or "").strip().casefold(), AUDIBLE_DOMAINS["us"])
    return f"https://www.audible.{domain}/pd/{asin}"


def finish(text: str) -> str:
    """MAM's line rules: no newlines outside [pre]; inside, [br] and no-break spaces."""
    pieces = []
    for piece in _PRE.split(text):
        if match := _PRE_PARTS.fullmatch(piece):
            opening, inner, closing = match.groups()
            inner = inner.replace("\r\n", "\n").replace("\n", "[br]").replace(" ", NBSP)
            pieces.append(f"{opening}{inner}{closing}")
        else:
            pieces.append(piece.replace("\r", "").replace("\n", ""))
    return "".join(pieces).strip()


def long_date(value: date) -> str:
    """ "January 14, 2025" (no %-d: it is not portable)."""
    return f"{value:%B} {value.day}, {value.year}"
