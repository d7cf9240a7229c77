"""The corpus: bad inputs as data, and what the user must see for each.

A case says how to build its input (a book folder in the library, a fake
service's behaviour, an action while the pipeline runs, or a setting), the
outcome the user gets (`expect`) and a piece of the text they read (`sees`):
the scan's reason for a rejected folder, `last_error` for a release that needs
attention, a warning for one that finished with a caveat. The harness
(`harness.py`) runs a whole group of cases at once, together with the control
books, through the real pipeline; `test_corpus.py` checks every case and what
must hold for all of them (the library untouched, nothing half-written, no
worker crashed).

`docs/corpus.md` lists every case (a test keeps it in step): change a case, and
regenerate the table with `python -m tests.corpus.table > docs/corpus.md`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# What the user ends up with: a release status, what the scan (or `mamfast state import`)
# said about the folder (or entry), a record `mamfast status` lists as damaged, or a folder
# `mamfast cleanup --apply` leaves as it was.
Expect = Literal[
    "complete", "needs_attention", "rejected", "duplicate", "refused", "damaged", "kept"
]
Group = Literal["library", "disk-copy", "disk-full", "settings"]

# File contents, by name (see harness.CONTENT): "m4b", "mp3" (real audio), "m4b-truncated",
# "mp3-truncated", "empty", "text", "jpg", "pdf", "aax", "mp3-as-m4b", "fifo", "dir",
# "link-outside" (a symlink to an audio file beside the library), "link-dangling" (a
# symlink to a file that is not there).
Files = Mapping[str, str]
ONE_M4B: Files = {"Book.m4b": "m4b", "cover.jpg": "jpg"}


@dataclass(frozen=True)
class Book:
    """A book folder: its files, and Libation's metadata dump.

    `metadata` overrides fields of a well-formed dump (a None value removes the
    field); `metadata=None` writes none; `metadata_text` writes these bytes instead.
    `modes` chmods files ("." is the folder itself) after everything is written.
    """

    files: Files = field(default_factory=lambda: ONE_M4B)
    metadata: Mapping[str, Any] | None = field(default_factory=dict)
    metadata_text: bytes | None = None
    folder: str | None = None  # default: "<case id> [<ASIN>]"
    copies: int = 1  # two folders claiming one ASIN
    modes: Mapping[str, int] = field(default_factory=dict)
    outside: bool = False  # the folder lives outside the library; the library has a symlink
    # A folder in the seed folder that mamfast did not make (another download, the old
    # tool's staging), its files hardlinked into the neighbour folder.
    in_seed: bool = False


@dataclass(frozen=True)
class Case:
    id: str
    input: str  # what is wrong, in words (the docs table's first column)
    expect: Expect
    sees: str  # a piece of what the user reads ("" for a clean finish)
    book: Book | None = field(default_factory=Book)
    stage: str | None = None  # where a needs_attention release stopped
    group: Group = "library"
    asin: str | None = None  # default: derived from the id
    audnex: str | None = None  # fake Audnex mode for this book (see fake_audnex.py)
    qbit: str | None = None  # "500": qBittorrent answers its add with 500; "500x2": twice
    during: str | None = None  # an action while (or after) the pipeline runs (harness)
    # Redis and state files: a record written straight into Redis before the scan (these
    # fields over a valid record of the ASIN), or a file given to `mamfast state import`
    # before the scan. Strings may name {root}, {seed}, {neighbour} and {folder} (the book).
    planted: Mapping[str, Any] | None = None
    imported: Mapping[str, Any] | None = None
    # Settings cases: MAMFAST_* values ({root}, {seed}, {data}, {port} are filled in), files
    # to write under <root>/config/, the command the user runs (`enqueue` for a refused
    # setting, `run` for one that stops the release), and text that must never show.
    env: Mapping[str, str] = field(default_factory=dict)
    config_files: Mapping[str, bytes] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    secret: str | None = None
    runs: int = 1  # the user runs the command this many times
    # Notifications: {hook} is a local receiver whose `/down` path answers 500; how many
    # messages its `/works` path must receive in all (`/down` is tried on every run).
    messages: int | None = None

    @property
    def release_asin(self) -> str:
        if self.asin is not None:
            return self.asin
        return "B0" + hashlib.sha1(self.id.encode()).hexdigest()[:8].upper()

    @property
    def reaches_the_queue(self) -> bool:
        return self.expect in ("complete", "needs_attention")


def _meta(**fields: Any) -> Mapping[str, Any]:
    return fields


MULTI_PART: Files = {"Book - Part 01.m4b": "m4b", "Book - Part 02.m4b": "m4b", "cover.jpg": "jpg"}

# Well-formed books that run beside every library group: they must finish.
CONTROLS: tuple[Case, ...] = (
    Case("control-m4b", "a well-formed single-file book (control)", "complete", ""),
    Case(
        "control-multipart",
        "a well-formed two-part book (control)",
        "complete",
        "",
        book=Book(files=MULTI_PART),
    ),
    Case(
        "control-mp3",
        "a well-formed MP3 book with a PDF (control)",
        "complete",
        "",
        book=Book(files={"01 - Chapter.mp3": "mp3", "02 - Chapter.mp3": "mp3", "Guide.pdf": "pdf"}),
        audnex="ok",
    ),
)

AUDIO: tuple[Case, ...] = (
    Case(
        "audio-zero-byte",
        "a zero-byte `Book.m4b`",
        "needs_attention",
        "has no audio track",
        book=Book(files={"Book.m4b": "empty"}),
        stage="metadata",
    ),
    Case(
        "audio-truncated-m4b",
        "an `.m4b` cut off halfway (an interrupted download)",
        "needs_attention",
        "is truncated",
        book=Book(files={"Book.m4b": "m4b-truncated"}),
        stage="metadata",
    ),
    Case(
        "audio-truncated-mp3",
        "an `.mp3` cut off after a third of its frames",
        "needs_attention",
        "is truncated",
        book=Book(files={"Book.mp3": "mp3-truncated"}),
        stage="metadata",
    ),
    Case(
        "audio-is-text",
        "a `.m4b` that is really a text file",
        "needs_attention",
        "has no audio track",
        book=Book(files={"Book.m4b": "text"}),
        stage="metadata",
    ),
    Case(
        "audio-mp3-named-m4b",
        "MP3 audio in a file named `.m4b`",
        "needs_attention",
        "holds MP3 audio",
        book=Book(files={"Book.m4b": "mp3-as-m4b"}),
        stage="metadata",
    ),
    Case(
        "audio-one-part-empty",
        "a two-part book whose second part is zero bytes",
        "needs_attention",
        "Part 02",
        book=Book(files={"Book - Part 01.m4b": "m4b", "Book - Part 02.m4b": "empty"}),
        stage="metadata",
    ),
    Case(
        "audio-is-fifo",
        "`Book.m4b` is a named pipe, not a file",
        "rejected",
        "no audio files",
        book=Book(files={"Book.m4b": "fifo", "cover.jpg": "jpg"}),
    ),
    Case(
        "audio-is-folder",
        "`Book.m4b` is a folder",
        "rejected",
        "no audio files",
        book=Book(files={"Book.m4b": "dir", "cover.jpg": "jpg"}),
    ),
    Case(
        "audio-encrypted-only",
        "only an encrypted `.aax` (not yet decrypted by Libation)",
        "rejected",
        "encrypted",
        book=Book(files={"Book.aax": "aax"}),
    ),
    Case(
        "audio-unreadable",
        "`Book.m4b` that mamfast may not read (mode 000)",
        "needs_attention",
        "permission denied",
        book=Book(modes={"Book.m4b": 0o000}),
        stage="metadata",
    ),
    Case(
        "extra-unreadable",
        "an unreadable `cover.jpg` beside good audio (mode 000)",
        "needs_attention",
        "permission denied",
        book=Book(modes={"cover.jpg": 0o000}),
        stage="torrent",
    ),
    Case(
        "folder-unreadable",
        "a book folder mamfast may not list (mode 000)",
        "rejected",
        "cannot be read",
        book=Book(modes={".": 0o000}),
    ),
)

METADATA: tuple[Case, ...] = (
    Case(
        "metadata-invalid-json",
        "`*.metadata.json` that is not JSON",
        "rejected",
        "is not valid JSON",
        book=Book(metadata_text=b'{"asin": "B0BROKEN00", "title": '),
    ),
    Case(
        "metadata-binary",
        "`*.metadata.json` holding binary garbage (not UTF-8)",
        "rejected",
        "is not valid JSON",
        book=Book(metadata_text=bytes(range(256))),
    ),
    Case(
        "metadata-not-object",
        "`*.metadata.json` holding a JSON list",
        "rejected",
        "does not hold a JSON object",
        book=Book(metadata_text=b'["title", "author"]'),
    ),
    Case(
        "metadata-wrong-types",
        "`*.metadata.json` with numbers, lists and objects where text belongs",
        "complete",
        "",
        book=Book(
            metadata=_meta(
                title=12345,
                authors="Not A List",
                narrators=[{"name": 7}],
                series=5,
                release_date=20200101,
                runtime_length_min="ten hours",
                language=["english"],
                publisher_summary={"html": "<p>x</p>"},
            )
        ),
    ),
    Case(
        "metadata-unreadable",
        "`*.metadata.json` that mamfast may not read (mode 000)",
        "rejected",
        "cannot be read",
        book=Book(modes={"metadata": 0o000}),
    ),
    Case(
        "metadata-asin-conflict",
        "the metadata file and the folder name give different ASINs",
        "complete",
        "asin: the folder name says",
        book=Book(folder="Conflicting ASIN [B0FOLDER00]"),
    ),
)

ASIN: tuple[Case, ...] = (
    Case(
        "asin-missing",
        "no ASIN in the metadata, the folder name or the file names",
        "rejected",
        "no ASIN",
        book=Book(metadata=_meta(asin=None), folder="A Book Without Its ASIN"),
    ),
    Case(
        "asin-invalid",
        "an ASIN that is not one (`{ASIN.HELLO}`)",
        "rejected",
        "no valid ASIN",
        book=Book(metadata=None, folder="Not An ASIN {ASIN.HELLO}"),
    ),
    Case(
        "asin-duplicate",
        "two book folders with one ASIN",
        "duplicate",
        "2 folders claim ASIN",
        book=Book(copies=2),
    ),
)

TITLES: tuple[Case, ...] = (
    Case(
        "title-400-chars",
        "a 400-character title",
        "complete",
        "",
        book=Book(metadata=_meta(title=("An Extremely Long Title " * 17)[:400])),
    ),
    Case(
        "title-one-long-word",
        "a 400-character title without a space",
        "complete",
        "",
        book=Book(metadata=_meta(title="Supercalifragilistic" * 20)),
    ),
    Case(
        "title-unicode",
        "a title of CJK, emoji, combining marks and right-to-left script",
        "complete",
        "",
        book=Book(
            metadata=_meta(
                title="日本語の題名 👩‍👩‍👧‍👦 Z̴̡a̸l̷g̶o العربية Ünïcödé " * 6,
                authors=[{"name": "著者 名前"}],
            )
        ),
    ),
    Case(
        "title-dotdot",
        "a title `../../../../etc/passwd`",
        "complete",
        "",
        book=Book(metadata=_meta(title="../../../../etc/passwd")),
    ),
    Case(
        "title-only-dots",
        "a title `..` and an author `.`",
        "complete",
        "",
        book=Book(metadata=_meta(title="..", authors=[{"name": "."}])),
    ),
    Case(
        "title-slashes",
        "slashes and backslashes in title, author and series",
        "complete",
        "",
        book=Book(
            metadata=_meta(
                title="AC/DC: Back\\Forth",
                authors=[{"name": "Writer/Editor"}],
                series=[{"title": "Either/Or", "sequence": "1/2"}],
            )
        ),
    ),
    Case(
        "title-nul-control",
        "NUL, escape sequences, bidi overrides and other control characters in title and author",
        "complete",
        "",
        book=Book(
            metadata=_meta(
                title="Bad\x00Title\x1b[31m Red\x07\x08\r\nNext\x1b[2J \u202egnp.exe",
                authors=[{"name": "Ctrl\x1b]0;pwned\x07 Author\u2066"}],
            )
        ),
    ),
    Case(
        "title-empty",
        "an empty title and no authors in the metadata",
        "complete",
        "",
        book=Book(metadata=_meta(title="   ", authors=[])),
    ),
)

DURING_THE_RUN: tuple[Case, ...] = (
    Case(
        "source-deleted-after-scan",
        "the book folder deleted after the scan, before staging",
        "needs_attention",
        "is gone",
        stage="stage",
        during="delete-source-after-scan",
    ),
    Case(
        "staged-deleted-mid-metadata",
        "the staged folder deleted while the metadata stage runs",
        "complete",
        "re-ran stage",
        audnex="slow",
        during="delete-staged-mid-metadata",
    ),
    Case(
        "source-deleted-mid-metadata",
        "the book folder deleted from the library after staging",
        "complete",
        "",
        audnex="slow",
        during="delete-source-mid-metadata",
    ),
)

SERVICES: tuple[Case, ...] = (
    Case(
        "audnex-garbage",
        "Audnex answers 200 with a body that is not JSON",
        "needs_attention",
        "is not a valid book record",
        audnex="garbage",
        stage="metadata",
    ),
    Case(
        "audnex-html",
        "Audnex answers 200 with an HTML page",
        "needs_attention",
        "is not a valid book record",
        audnex="html",
        stage="metadata",
    ),
    Case(
        "audnex-wrong-types",
        "Audnex answers JSON with wrong types (a list as title)",
        "needs_attention",
        "is not a valid book record",
        audnex="wrong-types",
        stage="metadata",
    ),
    Case(
        "audnex-truncated",
        "Audnex answers with JSON cut off mid-way",
        "needs_attention",
        "is not a valid book record",
        audnex="truncated",
        stage="metadata",
    ),
    Case(
        "audnex-502",
        "Audnex answers 502 with an HTML error page, every time",
        "complete",
        "audnex: missing (unavailable",
        audnex="502",
    ),
    Case(
        "qbit-500",
        "qBittorrent answers 500 to this release's add, every time",
        "needs_attention",
        "server error",
        qbit="500",
        stage="upload",
    ),
    Case(
        "qbit-500-twice",
        "qBittorrent answers 500 to this release's add twice, then accepts it",
        "complete",
        "",
        qbit="500x2",
    ),
)

DISK: tuple[Case, ...] = (
    Case(
        "disk-full-copy",
        "the seed folder's disk fills up while a book is copied "
        "(another filesystem, MAMFAST_STAGE_COPY_FALLBACK=true)",
        "needs_attention",
        "no space left",
        book=Book(files={"Book.m4b": "m4b-large"}),
        stage="stage",
        group="disk-copy",
    ),
    Case(
        "disk-full",
        "the disk holding library, seed and torrent folders is full",
        "needs_attention",
        "no space left",
        stage="stage",  # staging writes its ledger entry first, and that needs room too
        group="disk-full",
    ),
)


WORKER = ("worker", "--burst")  # the command of a setting that stops workers at start


def _setting(ident: str, what: str, env: dict[str, str], sees: str, **more: Any) -> Case:
    """A settings case: refused at start, or (with a stage) a release that stops there."""
    expect: Expect = "needs_attention" if "stage" in more else "refused"
    return Case(ident, what, expect, sees, env=env, group="settings", **more)


SETTINGS: tuple[Case, ...] = (
    _setting(
        "setting-max-attempts-zero",
        "`MAMFAST_MAX_ATTEMPTS=0`",
        {"MAMFAST_MAX_ATTEMPTS": "0"},
        "MAMFAST_MAX_ATTEMPTS: Input should be greater than or equal to 1",
    ),
    _setting(
        "setting-umask-not-octal",
        "`UMASK=999` (not octal)",
        {"UMASK": "999"},
        "UMASK",
    ),
    _setting(
        "setting-not-a-number",
        "`MAMFAST_LOCK_TTL=soon`",
        {"MAMFAST_LOCK_TTL": "soon"},
        "MAMFAST_LOCK_TTL: Input should be a valid number",
    ),
    _setting(
        "setting-broken-list",
        '`MAMFAST_ALLOWED_EXTENSIONS=[".m4b"` (a JSON list cut short)',
        {"MAMFAST_ALLOWED_EXTENSIONS": '[".m4b"'},
        "is not a JSON list",
    ),
    _setting(
        "setting-unknown-event",
        "`MAMFAST_NOTIFY_EVENTS=finished`",
        {"MAMFAST_NOTIFY_EVENTS": "finished"},
        "unknown event",
    ),
    _setting(
        "setting-announce-not-a-url",
        "`MAMFAST_ANNOUNCE_URL` holding only the passkey",
        {"MAMFAST_ANNOUNCE_URL": "PASSKEY0123456789"},
        "MAMFAST_ANNOUNCE_URL: Value error, must be an http(s) URL",
        secret="PASSKEY0123456789",
    ),
    _setting(
        "setting-redis-not-a-url",
        "`MAMFAST_REDIS_URL=http://...`",
        {"MAMFAST_REDIS_URL": "http://127.0.0.1:6379/"},
        "MAMFAST_REDIS_URL is not a valid Redis URL",
    ),
    _setting(
        "setting-redis-unreachable",
        "`MAMFAST_REDIS_URL` pointing where no Redis listens",
        {"MAMFAST_REDIS_URL": "redis://:Sesame-42@127.0.0.1:{port}/0"},
        "cannot reach Redis at redis://:***@127.0.0.1",
        secret="Sesame-42",
    ),
    _setting(
        "setting-seed-in-library",
        "`MAMFAST_SEED_DIR` inside the library",
        {"MAMFAST_SEED_DIR": "{root}/library/seeding"},
        "inside the library",
    ),
    _setting(
        "setting-library-missing",
        "`MAMFAST_LIBRARY_DIR` that does not exist (an unmounted volume)",
        {"MAMFAST_LIBRARY_DIR": "{root}/not-mounted"},
        "not-mounted does not exist or is not a folder",
        command=("run",),
    ),
    _setting(
        "setting-mediainfo-missing",
        "`MAMFAST_MEDIAINFO_CMD` naming a program that is not there",
        {"MAMFAST_MEDIAINFO_CMD": "/nonexistent/mediainfo"},
        "was not found",
        stage="metadata",
    ),
    _setting(
        "setting-mediainfo-fails",
        "`MAMFAST_MEDIAINFO_CMD=/bin/false`",
        {"MAMFAST_MEDIAINFO_CMD": "/bin/false"},
        "MAMFAST_MEDIAINFO_CMD may not be a working mediainfo",
        stage="metadata",
    ),
    # Rules files are read once, when a worker starts: a broken one stops the worker there
    # with its error, and the queued releases wait untouched for the fix.
    _setting(
        "setting-naming-file-broken",
        "`MAMFAST_NAMING_FILE` that is not JSON",
        {"MAMFAST_NAMING_FILE": "{root}/config/naming.json"},
        "is not valid JSON",
        config_files={"naming.json": b'{"series": '},
        command=WORKER,
    ),
    _setting(
        "setting-template-broken",
        "`MAMFAST_DESCRIPTION_TEMPLATE` with a Jinja syntax error",
        {"MAMFAST_DESCRIPTION_TEMPLATE": "{root}/config/description.j2"},
        "MAMFAST_DESCRIPTION_TEMPLATE",
        config_files={"description.j2": b"[b]{{ title }}[/b]{% if %}"},
        command=WORKER,
    ),
    _setting(
        "setting-categories-missing",
        "`MAMFAST_CATEGORIES_FILE` naming a file that is not there",
        {"MAMFAST_CATEGORIES_FILE": "{root}/config/categories.json"},
        "cannot read",
        command=WORKER,
    ),
    _setting(
        "setting-path-map-garbage",
        "`MAMFAST_QBIT_PATH_MAP=nonsense`",
        {"MAMFAST_QBIT_PATH_MAP": "nonsense"},
        "is not an `our_path:their_path` pair",
        stage="upload",
    ),
    _setting(
        "setting-path-map-wrong",
        "`MAMFAST_QBIT_PATH_MAP` sending qBittorrent to a folder without the files",
        {"MAMFAST_QBIT_PATH_MAP": "{seed}:{data}/not-the-seed-folder"},
        "qBittorrent cannot find the staged files",
        stage="upload",
    ),
    _setting(
        "setting-qbit-password-wrong",
        "a wrong `MAMFAST_QBIT_PASSWORD`",
        {"MAMFAST_QBIT_PASSWORD": "Hunter2-not-it"},
        "refused the login",
        stage="upload",
        secret="Hunter2-not-it",
    ),
)

PIXEL = "[img]https://tracker.example/pixel.png[/img]"  # a tracking pixel, as BBCode
THREE_PARTS = ("Book - Part 01.m4b", "Book - Part 02.m4b", "Book - Part 03.m4b")


def _parts(second: str) -> Files:
    """A three-part book whose second part is `second` (a file kind)."""
    return {THREE_PARTS[0]: "m4b", THREE_PARTS[1]: second, THREE_PARTS[2]: "m4b"}


# Path containment, symlinks, names that are not UTF-8, nested metadata, escaping of what
# reaches the description and the terminal.
SAFETY: tuple[Case, ...] = (
    Case(
        "symlink-folder-outside",
        "a book folder that is a symlink to a folder outside the library",
        "rejected",
        "outside the library: not followed",
        book=Book(files={**ONE_M4B, "private.pdf": "pdf"}, outside=True),
    ),
    Case(
        "symlink-part-outside",
        "part 2 of a three-part book is a symlink to a file outside the library",
        "rejected",
        "Part 02",
        book=Book(files=_parts("link-outside")),
    ),
    Case(
        "symlink-part-dangling",
        "part 2 of a three-part book is a symlink to a file that is not there",
        "rejected",
        "Part 02",
        book=Book(files=_parts("link-dangling")),
    ),
    Case(
        "symlink-part-after-scan",
        "part 2 of a three-part book replaced by a dangling symlink after the scan",
        "needs_attention",
        "never staged with a part missing",
        book=Book(files=_parts("m4b")),
        stage="stage",
        during="break-part-after-scan",
    ),
    Case(
        "name-not-utf8",
        "a book folder whose name is not UTF-8 (`Caf\\xe9`, a Latin-1 download)",
        "rejected",
        "not valid UTF-8",
        book=Book(folder="Caf\udce9 [B0LATIN001]"),  # surrogateescape: the byte 0xE9
        asin="B0LATIN001",
    ),
    Case(
        "metadata-nested-deep",
        "`*.metadata.json` nested 100,000 lists deep",
        "rejected",
        "nested too deeply",
        book=Book(metadata_text=b"[" * 100_000 + b"]" * 100_000),
    ),
    Case(
        "bbcode-injection",
        "BBCode in title, author and synopsis (`[img]`, `[url=...]`, an `]` in a link target)",
        "complete",
        "",
        book=Book(
            metadata=_meta(
                title=f"Evil {PIXEL}",
                authors=[{"name": "[url=https://evil.example]Writer[/url]"}],
                publisher_summary=(
                    f'<p>See <a href="https://x.example/a]{PIXEL}">this</a>, '
                    "[url=https://evil.example]that[/url] and [b]more[/b].</p>"
                ),
            )
        ),
    ),
)

# Records in Redis and state files nobody checked, and folders that are not mamfast's.
STATE: tuple[Case, ...] = (
    Case(
        "record-unknown-stage",
        "the release's record in Redis names a stage no version of mamfast has",
        "damaged",
        "mamfast state forget",
        planted={"stage": "polish"},
    ),
    Case(
        "record-asin-is-a-path",
        "a record in Redis whose ASIN is a path (`/../../neighbour`) to a folder beside ours",
        "damaged",
        "cannot be read",
        book=None,
        asin="/../../neighbour",
        planted={"staging_dir": "{neighbour}", "source_dir": "{neighbour}"},
    ),
    Case(
        "import-asin-is-a-path",
        "a state file whose entry has the ASIN `/../../neighbour`",
        "rejected",
        "not an ASIN",
        book=None,
        imported={
            "format": "mamfast-state",
            "version": 1,
            "releases": [
                {
                    "asin": "/../../neighbour",
                    "source_dir": "{neighbour}/Some.Other.Download [B0NEIGHBOR]",
                    "stage": "stage",
                    "status": "queued",
                }
            ],
        },
    ),
    Case(
        "import-bad-optional-field",
        "the old tool's state file marks the book complete, with `processed_at: not-a-date`",
        "complete",
        "warning: processed",
        imported={
            "version": 2,
            "processed": {
                "{asin}": {"title": "Done", "status": "COMPLETE", "processed_at": "not-a-date"}
            },
            "failed": {},
        },
    ),
    Case(
        "cleanup-foreign-folder",
        "a download in the seed folder, `Some.Other.Download [BESTSELLER]`, holding hardlinks",
        "kept",
        "",
        book=Book(
            files={"movie.mkv": "text", "movie.nfo": "text"},
            metadata=None,
            folder="Some.Other.Download [BESTSELLER]",
            in_seed=True,
        ),
    ),
    Case(
        "redis-lost-name-changed",
        "after the run Redis loses everything, then Libation changes the book's release date "
        "(its MAM name changes) and the book is scanned again",
        "complete",
        "staging: reused",
        during="redis-lost-and-renamed",
    ),
    Case(
        "notify-one-url-down",
        "two notification URLs, one answering 500 every time; `mamfast run` twice",
        "complete",
        "notification to http://*** failed (HTTP 500)",
        env={"MAMFAST_NOTIFY_URLS": "{hook}/works,{hook}/down"},
        command=("run",),
        runs=2,
        messages=1,
        group="settings",
    ),
)

SECTIONS: tuple[tuple[str, tuple[Case, ...]], ...] = (
    ("Control books (run beside the others, must finish)", CONTROLS),
    ("Audio and other files", AUDIO),
    ("Libation's metadata file", METADATA),
    ("ASIN", ASIN),
    ("Titles and names", TITLES),
    ("Changes while the pipeline runs", DURING_THE_RUN),
    ("Audnex and qBittorrent misbehaving", SERVICES),
    ("Paths, symlinks and escaping", SAFETY),
    ("Records, state files, clean-up and notifications", STATE),
    ("Full disk", DISK),
    ("Settings", SETTINGS),
)
CASES: tuple[Case, ...] = tuple(case for _, cases in SECTIONS for case in cases)
QUEUED_GROUPS: tuple[Group, ...] = ("library", "disk-copy", "disk-full")


def by_group(group: Group) -> tuple[Case, ...]:
    return tuple(c for c in CASES if c.group == group)
