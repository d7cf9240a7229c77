"""`mamfast cleanup`: list, and with --apply remove, staged folders nothing uses any more."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

import typer

from mamfast.cli.common import console, opened_engine, run_async, settings_or_exit, shown

if TYPE_CHECKING:
    from mamfast.clients.qbit import QbitClient
    from mamfast.config import Settings
    from mamfast.ops.cleanup import CleanupReport


def register(app: typer.Typer) -> None:
    app.command()(cleanup)


def cleanup(
    apply: Annotated[
        bool, typer.Option("--apply", help="Remove what is listed (default: only list it).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """List (with --apply, remove) folders mamfast staged that no release uses any more.

    Only folders mamfast made (its staging ledger lists them) and none a release uses,
    none being processed, and none a torrent in qBittorrent uses: without
    MAMFAST_QBIT_URL staged folders are kept, since mamfast cannot tell whether you seed
    them; if qBittorrent cannot be asked, nothing is removed."""
    from mamfast.ops.cleanup import cleanup as do_cleanup
    from mamfast.ops.cleanup import client_in_use

    settings = settings_or_exit()

    async def body() -> CleanupReport:
        async with opened_engine(settings) as engine, _qbit(settings) as qbit:
            return await do_cleanup(engine, in_use=await client_in_use(settings, qbit), apply=apply)

    report = run_async(body())
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    for item in report.items:
        colour = {"removed": "green", "would remove": "yellow", "kept": "dim"}[item.action]
        console.print(
            f"[{colour}]{item.action:<13}[/] {shown(str(item.path))}: {shown(item.reason)}",
            highlight=False,
        )
    removable = len(report.removable)
    if not report.items:
        console.print(f"nothing to clean up in {settings.seed_folder}", markup=False)
    elif report.dry_run and removable:
        console.print(f"{removable} folder(s) would be removed; run `mamfast cleanup --apply`")


@contextlib.asynccontextmanager
async def _qbit(settings: Settings) -> AsyncIterator[QbitClient | None]:
    """The torrent client, only to ask which folders it seeds (None when not configured)."""
    if not settings.qbit_url:
        yield None
        return
    from mamfast.clients.qbit import QbitClient

    client = QbitClient.from_settings(settings)
    try:
        yield client
    finally:
        await client.close()
