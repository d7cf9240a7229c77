"""The dashboard's aiohttp application: routes, middlewares, templates, static files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from mamfast.clients.qbit import QbitClient
from mamfast.engine.connections import UNREACHABLE, unreachable
from mamfast.engine.engine import Engine
from mamfast.web import actions, live, views
from mamfast.web.context import ACCESS, ENGINE, POOL, READER, SEEDING, STOPPING, TEMPLATES
from mamfast.web.metrics import add_metrics_routes
from mamfast.web.pool import PoolView
from mamfast.web.reading import Reader
from mamfast.web.security import Access, Handler, access_middleware, security_headers
from mamfast.web.seeding import SeedingPanel

HERE = Path(__file__).parent
ASIN = "{asin:[0-9A-Za-z]{10}}"


def templates() -> jinja2.Environment:
    # Autoescape everything: titles, authors and errors come from outside.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def create_app(engine: Engine[Any], access: Access) -> web.Application:
    """The dashboard on an open engine. The caller owns the engine (and closes it)."""
    app = web.Application(middlewares=[redis_down, access_middleware(access)])
    app.on_response_prepare.append(security_headers)
    app[ENGINE] = engine
    app[READER] = Reader(engine)
    app[POOL] = PoolView(engine.redis)
    # One qBittorrent client for the seeding panel (none when MAMFAST_QBIT_URL is unset);
    # it logs in on first use, so a qBittorrent that is down does not stop the dashboard.
    qbit = QbitClient.from_settings(engine.settings) if engine.settings.qbit_url else None
    app[SEEDING] = SeedingPanel(engine, qbit)
    if qbit is not None:
        app.on_cleanup.append(lambda _app: qbit.close())
    app[ACCESS] = access
    app[TEMPLATES] = templates()
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_stop_streams)
    _pages(app)
    _actions(app)
    # Public (security.PUBLIC_PATHS): Prometheus and the container healthcheck carry no token.
    add_metrics_routes(app, engine)
    app.router.add_static("/static/", HERE / "static")
    return app


def _pages(app: web.Application) -> None:
    app.router.add_get("/", views.index)
    app.router.add_get("/events", live.events)
    app.router.add_get(f"/release/{ASIN}", views.release_page)
    app.router.add_get(f"/release/{ASIN}/fastfill.json", views.fastfill_file)
    app.router.add_get(f"/release/{ASIN}/description.txt", views.description_file)
    app.router.add_get(f"/release/{ASIN}/download.torrent", views.torrent_file, name="torrent")
    app.router.add_get("/login", views.login_form)
    app.router.add_post("/login", views.login)
    app.router.add_post("/logout", views.logout)


def _actions(app: web.Application) -> None:
    app.router.add_post(f"/release/{ASIN}/retry", actions.retry)
    app.router.add_post(f"/release/{ASIN}/reset", actions.reset)
    app.router.add_post(f"/release/{ASIN}/uploaded", actions.mark_uploaded)
    app.router.add_post("/rescan", actions.rescan)


@web.middleware
async def redis_down(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Redis went away (restarting, stopped): one plain line, not a traceback page."""
    try:
        return await handler(request)
    except UNREACHABLE as exc:
        settings = request.app[ENGINE].settings
        problem = unreachable(settings.secret("redis_url") or "the private Redis", exc)
        text = f"{problem}. This page works again once Redis answers."
        return web.Response(text=text, status=503)


async def _stop_streams(app: web.Application) -> None:
    app[STOPPING].set()
