"""`mamfast mamjson PATH` and `mamfast bbcode PATH`: MAM's upload texts without the queue.

PATH is a release folder (staged or straight from Libation) or one audio
file, read by the pipeline's own reader (`mamfast.library`): the same files,
book data and ASIN (the metadata file, then `{ASIN.X}` / `[X]` in the folder
name, then in the audio file names), unless --asin names one. Audnex is asked
through the same client as the workers: with MAMFAST_REDIS_URL set it shares
their rate limit, breaker and cache; without it, limits are kept in this process.
The output goes to stdout (or -o FILE, written atomically); warnings and the
review checklist go to stderr, so `mamfast mamjson X > x.json` stays clean.
"""

from __future__ import annotations

import contextlib
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

    from mamfast.release.prepare import prepare
    from mamfast.release.rules import load_release_rules

    rules = await asyncio.to_thread(load_release_rules, settings)  # once, before any work
    chosen, book, warnings = read_release(path, settings, asin)
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {shown(warning)}", highlight=False)
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


def read_release(
    path: Path, settings: Settings, asin: str | None = None
) -> tuple[str, BookInfo, list[str]]:
    """The ASIN, book data and warnings for PATH, read as the pipeline's discovery reads it.

    The one Libation reader (`mamfast.library`) decides, so this command and a scan
    agree on every folder; `asin` (from --asin) only replaces the ASIN it would choose.
    A folder discovery would reject is an InputError with discovery's reason.
    """
    from mamfast.errors import InputError
    from mamfast.library.discovery import read_folder
    from mamfast.library.metadata import UnusableBookError

    try:
        found = read_folder(path, settings)
    except UnusableBookError as exc:
        raise InputError(
            f"{path.name}: {exc}", hint="fix the book folder, then try again"
        ) from None
    if asin:
        return asin, found.book, list(found.selection.warnings)
    if not found.claims.found():
        raise InputError(
            f"no ASIN found for {path.name}",
            hint="pass --asin, or put the ASIN in the folder name as {ASIN.<asin>}",
        )
    try:
        candidate = found.candidate()
    except UnusableBookError as exc:
        raise InputError(f"{path.name}: {exc}", hint="pass --asin") from None
    return candidate.asin, candidate.book, candidate.warnings


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
