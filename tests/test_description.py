"""BBCode description: HTML conversion, MAM's line rules, the template and its override."""

from __future__ import annotations

from datetime import date

import pytest

from mamfast.clients.mediainfo import AudioInfo, ChapterMark
from mamfast.errors import ConfigError
from mamfast.release.bookdata import BookFacts, SeriesEntry
from mamfast.release.description import NBSP, finish, html_to_bbcode, load_template, render


def facts(**overrides: object) -> BookFacts:
    values: dict[str, object] = {
        "asin": "B003ZWFO7E",
        "source": "audnex",
        "raw_title": "The Way of Kings",
        "title": "The Way of Kings",
        "authors": ["Brandon Sanderson"],
        "narrators": ["Michael Kramer", "Kate Reading"],
        "translators": [],
        "series": [SeriesEntry(name="The Stormlight Archive", number="1")],
        "summary_html": "<p>Roshar is a world of <b>stone</b> &amp; storms.</p>",
        "publisher": "Macmillan Audio",
        "release_date": date(2010, 8, 31),
        "language": "English",
        "genre_tags": ["Fantasy", "Epic"],
        "chapters": [ChapterMark(start_s=0, title="Opening"), ChapterMark(start_s=3725, title="")],
    }
    values.update(overrides)
    return BookFacts.model_validate(values)


AUDIO = AudioInfo(
    files=["a.m4b"],
    duration_s=30000,
    container="M4B",
    format="MPEG-4",
    codec="AAC LC",
    bitrate=125000,
    bitrate_mode="VBR",
    sample_rate=44100,
    channels=2,
    chapters=[],
)


@pytest.mark.parametrize(
    ("html", "bbcode"),
    [
        ("<p>One.</p>", "One."),
        ("<p>One.</p><p>Two.</p>", "One.[br][br]Two."),
        ("<p>One.</p>\n<p>Two.</p>\n", "One.[br][br]Two."),  # upstream: 4 breaks at the end
        ("One<br><br><br><br>Two", "One[br][br]Two"),
        (
            "<b>Bold</b> <strong>strong</strong> <i>it</i> <em>em</em> <u>u</u> <s>s</s>",
            "[b]Bold[/b] [b]strong[/b] [i]it[/i] [i]em[/i] [u]u[/u] [s]s[/s]",
        ),
        ('<a href="https://x.example/a">link</a>', "[url=https://x.example/a]link[/url]"),
        ('<a href="javascript:alert(1)">bad</a>', "bad"),
        ("<p>Caf&eacute; &amp; &lt;bar&gt;</p>", "Café & <bar>"),
        ("<div><span class=x>kept text</span></div>", "kept text"),
        ("<ul><li>a</li><li>b</li></ul>", "• a[br]• b"),
        ("Plain text.\n\nNew paragraph.\nLine.", "Plain text.[br][br]New paragraph.[br]Line."),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("", ""),
    ],
)
def test_html_to_bbcode(html, bbcode):
    assert html_to_bbcode(html) == bbcode


def test_finish_removes_newlines_but_keeps_pre_blocks():
    text = "a\n[b]b[/b]\n[pre]\n  two  spaces\nnext line\n[/pre]\nc"
    assert finish(text) == f"a[b]b[/b][pre]{NBSP * 2}two{NBSP * 2}spaces[br]next{NBSP}line[/pre]c"


def test_shipped_template_layout():
    text = render(facts(translators=["Stephen Paul"]), AUDIO, signature=True)
    assert "\n" not in text
    assert text.startswith("[center][size=6][b][color=#3aa6ff]The Way of Kings[/color]")
    assert "Roshar is a world of [b]stone[/b] & storms.[br][br][size=4]" in text
    assert "[br][br][br]" not in text
    for row in (
        "[b]Author:[/b] Brandon Sanderson[br]",
        "[b]Narrators:[/b] Michael Kramer, Kate Reading[br]",
        "[b]Translator:[/b] Stephen Paul[br]",
        "[b]Series:[/b] The Stormlight Archive #1[br]",
        "[b]Release Date:[/b] August 31, 2010[br]",
        "[b]Genres:[/b] Fantasy, Epic[br]",
        "[b]Audible:[/b] [url=https://www.audible.com/pd/B003ZWFO7E]",
        "[b]Codec:[/b] AAC LC (VBR ~125 kb/s)[br]",
        "[b]Sample Rate:[/b] 44.1 kHz[br]",
        "[b]Channels:[/b] Stereo[br]",
        "[b]Duration:[/b] 8h 20m[br]",
        "[b]Chapters:[/b] 2[br]",
        "[hide=Chapters][font=Courier New]00:00:00 - Opening[br]01:02:05 - Chapter 2[br]"
        "[/font][/hide]",
    ):
        assert row in text, row
    assert "Publisher:[/b] Macmillan Audio" in text
    assert text.endswith(f"[pre]{NBSP * 2}prepared{NBSP}with{NBSP}mamfast[/pre][/size][/center]")


def test_subtitle_joins_the_header_and_signature_can_be_off():
    text = render(facts(subtitle="Book One", chapters=[]), AUDIO, signature=False)
    assert "[color=#3aa6ff]The Way of Kings: Book One[/color]" in text
    assert "mamfast" not in text
    assert "[b]Chapters:[/b] No[br]" in text and "[hide=" not in text


def test_user_template_override(tmp_path):
    template = tmp_path / "mine.j2"
    template.write_text(
        "[b]{{ title }}[/b]\n{% for a in book.authors %}{{ a }}{% endfor %}\n"
        "{{ duration }} {{ 90|clock }} {{ book.release_date|longdate }}\n"
    )
    assert render(facts(), AUDIO, template=template) == (
        "[b]The Way of Kings[/b]Brandon Sanderson8h 20m 00:01:30 August 31, 2010"
    )


def test_broken_user_template_is_a_config_error(tmp_path):
    template = tmp_path / "broken.j2"
    template.write_text("{{ no_such_variable }}")
    with pytest.raises(ConfigError, match="unknown variable 'no_such_variable'"):
        render(facts(), AUDIO, template=template)
    template.write_text("{% if %}")
    with pytest.raises(ConfigError, match=r"failed \(line 1\)"):
        render(facts(), AUDIO, template=template)
    with pytest.raises(ConfigError, match="does not exist"):
        render(facts(), AUDIO, template=tmp_path / "missing.j2")


def test_unknown_variable_is_named_with_the_available_ones(tmp_path):
    template = tmp_path / "mine.j2"
    template.write_text("[b]{{ title }}[/b]\n{{ narrator }}\n")
    with pytest.raises(ConfigError) as caught:
        render(facts(), AUDIO, template=template)
    message = str(caught.value)
    assert f"{template} (line 2) uses the unknown variable 'narrator'" in message
    for name in ("audible_url", "audio", "book", "chapters", "signature", "synopsis", "title"):
        assert name in message.split("the variables are:")[1]


def test_unknown_field_of_a_variable_is_named_with_its_fields(tmp_path):
    template = tmp_path / "mine.j2"
    template.write_text("{{ book.narrator }}")
    with pytest.raises(ConfigError) as caught:
        render(facts(), AUDIO, template=template)
    message = str(caught.value)
    assert "asks `book` for 'narrator', which it does not have" in message
    assert "narrators" in message.split("it has:")[1]


def test_unknown_variable_in_arithmetic_and_tests_is_named_too(tmp_path):
    template = tmp_path / "mine.j2"
    for body in ("{{ 1 + nothing }}", "{% if nothing %}x{% endif %}", "{{ nothing|length }}"):
        template.write_text(body)
        with pytest.raises(ConfigError, match="unknown variable 'nothing'"):
            render(facts(), AUDIO, template=template)


def test_unknown_variable_stops_loading_before_any_book(tmp_path):
    template = tmp_path / "mine.j2"
    template.write_text("{% if book.abridged %}{{ book.abridgd }}{% endif %}")
    with pytest.raises(ConfigError, match="asks `book` for 'abridgd'"):
        load_template(template)  # a worker loads it once, at start
    template.write_text("{{ book.year|int // 0 }}")  # fails on data, not on a name
    assert load_template(template).source == str(template)


def test_signature_words_can_be_replaced_and_turned_off():
    mine = render(facts(), AUDIO, signature_text="uploaded by [b]me[/b]")
    assert mine.endswith(f"[pre]{NBSP * 2}uploaded{NBSP}by{NBSP}[b]me[/b][/pre][/size][/center]")
    assert "prepared with mamfast" not in mine.replace(NBSP, " ")
    off = render(facts(), AUDIO, signature=False, signature_text="uploaded by me")
    assert "uploaded" not in off and "[pre]" not in off


@pytest.mark.parametrize(
    ("region", "url"),
    [
        (None, "https://www.audible.com/pd/B003ZWFO7E"),  # no Audnex: the US store
        ("us", "https://www.audible.com/pd/B003ZWFO7E"),
        ("uk", "https://www.audible.co.uk/pd/B003ZWFO7E"),
        ("de", "https://www.audible.de/pd/B003ZWFO7E"),
        ("au", "https://www.audible.com.au/pd/B003ZWFO7E"),
        ("jp", "https://www.audible.co.jp/pd/B003ZWFO7E"),
    ],
)
def test_audible_link_points_to_the_region_audnex_found_the_book_in(region, url):
    text = render(facts(audnex_region=region), AUDIO)
    assert f"[b]Audible:[/b] [url={url}]{url}[/url]" in text


# --------------------------------------------------------------------------- injection

PIXEL = "[img]https://tracker.example/pixel.png[/img]"


@pytest.mark.parametrize(
    "field",
    ["title", "subtitle", "authors", "narrators", "publisher", "series", "chapters", "genres"],
)
def test_book_text_can_never_become_bbcode(field):
    values: dict[str, object] = {
        "title": f"Evil {PIXEL}",
        "subtitle": PIXEL,
        "authors": [f"[url=https://evil.example]{PIXEL}[/url]"],
        "narrators": [PIXEL],
        "publisher": PIXEL,
        "series": [SeriesEntry(name=PIXEL, number="1")],
        "chapters": [ChapterMark(start_s=0, title=PIXEL)],
        "genre_tags": [PIXEL],
    }
    key = "genre_tags" if field == "genres" else field
    text = render(facts(**{key: values[key]}), AUDIO)
    assert "[img]" not in text and "evil.example]" not in text
    assert "［img］https://tracker.example/pixel.png［/img］" in text


@pytest.mark.parametrize(
    ("html", "bbcode"),
    [
        (f"<p>{PIXEL}</p>", "［img］https://tracker.example/pixel.png［/img］"),
        (f"Plain {PIXEL}", "Plain ［img］https://tracker.example/pixel.png［/img］"),
        (f'<a href="https://x.example/a]{PIXEL}">link</a>', "link"),
        ('<a href="https://x.example/[b]">link</a>', "link"),
        ('<a href="https://x.example/a b">link</a>', "link"),
        ('<a href="ftp://x.example/a">link</a>', "link"),
        ('<a href="https://x.example/ok?a=1">link</a>', "[url=https://x.example/ok?a=1]link[/url]"),
    ],
)
def test_synopsis_text_and_links_can_never_become_bbcode(html, bbcode):
    assert html_to_bbcode(html) == bbcode
