"""`mamfast web`: the dashboard, served until stopped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mamfast.cli.common import console, fail, run_async, settings_or_exit, setup_logging

if TYPE_CHECKING:
    from mamfast.config import Settings


def register(app: typer.Typer) -> None:
    app.command()(web)


def web(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (MAMFAST_WEB_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (MAMFAST_WEB_PORT, 8080).")
    ] = None,
) -> None:
    """Serve the dashboard: releases live, the upload hand step, retry and reset.

    Without MAMFAST_REDIS_URL it attaches to the data dir's private Redis, so it can
    be opened beside a `mamfast run`.
    """
    from mamfast.errors import ConfigError
    from mamfast.web.token import load_or_create

    settings = settings_or_exit(web_host=host, web_port=port)
    setup_logging(settings.log_level)
    try:
        token = load_or_create(settings)
    except ConfigError as exc:
        fail(str(exc), code=2)
    if token.generated:
        # Printed this once; afterwards it is only in the owner-only file.
        console.print(
            f"dashboard token (made now, kept in {token.path}; use it to sign in):\n{token.value}",
            highlight=False,
            soft_wrap=True,
        )
    run_async(_serve(settings, token.value))


async def _serve(settings: Settings, token: str) -> None:
    from mamfast.cli.common import opened_engine
    from mamfast.web.serve import serve

    async with opened_engine(settings) as engine:
        await serve(engine, token, on_ready=_listening)


def _listening(url: str, open_reads: bool) -> None:
    reads = (
        "pages open without the token (loopback)" if open_reads else "every page needs the token"
    )
    console.print(f"dashboard on {url}  ({reads}; Ctrl-C stops it)", highlight=False)
