"""`mamfast mamjson PATH` and `mamfast bbcode PATH`: MAM's upload texts without the queue.

PATH is a release folder (staged or straight from Libation) or one audio
file. The ASIN comes from --asin, the folder's *.metadata.json, or an
`{ASIN.X}` / `[X]` token in the folder or file names. Audnex is asked through
the same client as the workers: with MAMFAST_REDIS_URL set it shares their
rate limit, breaker and cache; without it, limits are kept in this process.
The output goes to stdout (or -o FILE, written atomically); warnings and the
review checklist go to stderr, so `mamfast mamjson X > x.json` stays clean.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mamfast.cli.common import asin_arg, err_console, run_async, settings_or_exit, shown

# Discovery, Audnex (aiohttp), prepare (templates, mediainfo) and Redis are
# imported where used: every other command, `--help` included, skips them.
if TYPE_CHECKING:
    from mamfast.clients.audnex import AudnexClient
    from mamfast.config import Settings
    from mamfast.models import BookInfo
    from mamfast.release.prepare import Prepared

PathArg = Annotated[
    Path, typer.Argument(help="Release folder or audio file.", exists=True, resolve_path=True)
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
]
AsinOpt = Annotated[
    str | None, typer.Option(help="ASIN to use (default: read from PATH).", parser=asin_arg)
]
NoAudnexOpt = Annotated[
    bool, typer.Option("--no-audnex", help="Do not ask Audnex (Libation data and tags only).")
]


def register(app: typer.Typer) -> None:
    app.command()(mamjson)
    app.command()(bbcode)


def mamjson(
    path: PathArg,
    output: OutputOpt = None,
    asin: AsinOpt = None,
    no_audnex: NoAudnexOpt = False,
) -> None:
    """Build MAM's fast-fill JSON for a release folder or audio file."""
    settings = settings_or_exit()
    prepared = run_async(_prepare(settings, path, asin, no_audnex))
    _emit(prepared.fastfill.to_json(), output)
    _report(prepared)


def bbcode(
    path: PathArg,
    output: OutputOpt = None,
    asin: AsinOpt = None,
    no_audnex: NoAudnexOpt = False,
) -> None:
    """Print the BBCode description for a release folder or audio file."""
    settings = settings_or_exit()
    prepared = run_async(_prepare(settings, path, asin, no_audnex))
    _emit(prepared.description + "\n", output)
    _report(prepared)


async def _prepare(settings: Settings, path: Path, asin: str | None, no_audnex: bool) -> Prepared:
    import asyncio

    from mamfast.errors import InputError
    from mamfast.release.prepare import prepare
    from mamfast.release.rules import load_release_rules

    rules = await asyncio.to_thread(load_release_rules, settings)  # once, before any work
    found_asin, book = read_release(path)
    chosen = (asin or found_asin or "").strip().upper()
    if not chosen:
        raise InputError(
            f"no ASIN found for {path.name}",
            hint="pass --asin, or put the ASIN in the folder name as {ASIN.<asin>}",
        )
    if no_audnex:
        return await prepare(path, chosen, book, settings, None, rules)
    async with audnex_client(settings) as client:
        return await prepare(path, chosen, book, settings, client, rules)


@contextlib.asynccontextmanager
async def audnex_client(settings: Settings) -> AsyncIterator[AudnexClient]:
    """The workers' shared limits when Redis is configured, this process's otherwise."""
    from mamfast.clients.audnex import AudnexClient

    url = settings.secret("redis_url")
    if not url:
        client = AudnexClient.standalone(settings)
        try:
            yield client
        finally:
            await client.close()
        return
    from mamfast.engine.connections import connect

    redis = await connect(url, retries=2)
    client = AudnexClient.for_worker(settings, redis)
    try:
        yield client
    finally:
        await client.close()
        await redis.aclose()


def read_release(path: Path) -> tuple[str | None, BookInfo]:
    """ASIN and Libation's book data for a folder (or an audio file's folder)."""
    from mamfast.asin import valid_asin
    from mamfast.library import discovery

    folder = path if path.is_dir() else path.parent
    names = sorted(p.name for p in folder.iterdir())
    book, meta_asin = _metadata_file(folder, names)
    parsed = discovery.parse_folder_name(folder.name)
    update: dict[str, object] = {"title": book.title or parsed.title}
    if not book.authors and parsed.author:
        update["authors"] = [parsed.author]
    if not book.year and parsed.year:
        update["year"] = parsed.year
    book = book.model_copy(update=update)
    candidates = [meta_asin, parsed.asin, *(discovery.asin_in_name(n) for n in names)]
    if not path.is_dir():
        candidates.insert(0, discovery.asin_in_name(path.name))
    asin = next((a.upper() for a in candidates if a and valid_asin(a.upper())), None)
    return asin, book


def _metadata_file(folder: Path, names: list[str]) -> tuple[BookInfo, str | None]:
    from mamfast.library import discovery
    from mamfast.models import BookInfo

    metadata = [n for n in names if n.lower().endswith(discovery.METADATA_SUFFIX)]
    if not metadata:
        return BookInfo(), None
    try:
        data = json.loads((folder / metadata[0]).read_bytes())
    except (OSError, ValueError) as exc:
        err_console.print(
            f"[yellow]warning:[/] ignoring {shown(str(metadata[0]))}: {shown(str(exc))}",
            highlight=False,
        )
        return BookInfo(), None
    if not isinstance(data, dict):
        return BookInfo(), None
    return discovery.book_from_metadata(data, metadata_file=metadata[0])


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from mamfast.fs.atomic import write_atomic

    write_atomic(output, text)
    err_console.print(f"wrote {output}", highlight=False, markup=False)


def _report(prepared: Prepared) -> None:
    from rich.text import Text

    for warning in prepared.warnings:
        err_console.print(f"[yellow]warning:[/] {shown(warning)}", highlight=False)
    if not prepared.review.sentences:
        err_console.print("[green]review:[/] nothing to check beyond the usual read-through")
        return
    err_console.print("[bold]review before upload:[/]")
    for sentence in prepared.review.blocking:
        err_console.print(Text.assemble(("  ✗ ", "red"), sentence), highlight=False)
    for sentence in prepared.review.checks:
        err_console.print(Text.assemble("  • ", sentence), highlight=False)
