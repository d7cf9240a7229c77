"""Running the dashboard: listen, serve until SIGINT/SIGTERM, shut down cleanly."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web

from mamfast.engine.engine import Engine
from mamfast.errors import ConfigError
from mamfast.web.app import create_app
from mamfast.web.security import Access, is_loopback

SHUTDOWN_TIMEOUT = 5.0


async def serve(
    engine: Engine[Any],
    token: str,
    *,
    on_ready: Callable[[str, bool], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set or the process gets SIGINT/SIGTERM."""
    settings = engine.settings
    access = Access(token=token, open_reads=is_loopback(settings.web_host))
    runner = web.AppRunner(create_app(engine, access), shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, settings.web_host, settings.web_port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {settings.web_host}:{settings.web_port}: {exc.strerror}",
                hint="choose another MAMFAST_WEB_PORT (or --port), or stop what uses that port",
            ) from None
        if on_ready is not None:
            on_ready(f"http://{settings.web_host}:{settings.web_port}/", access.open_reads)
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
