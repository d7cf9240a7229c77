"""What every handler of one dashboard shares, kept on its `web.Application`.

No module-level state: `app.create_app` puts these in, the handlers read them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import jinja2
from aiohttp import web

from mamfast.engine.engine import Engine
from mamfast.web.pool import PoolView
from mamfast.web.reading import Reader
from mamfast.web.security import Access
from mamfast.web.seeding import SeedingPanel

ENGINE: web.AppKey[Engine[Any]] = web.AppKey("engine")
READER: web.AppKey[Reader] = web.AppKey("reader")
POOL: web.AppKey[PoolView] = web.AppKey("pool")
SEEDING: web.AppKey[SeedingPanel] = web.AppKey("seeding")
ACCESS: web.AppKey[Access] = web.AppKey("access")
TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("templates")
# Set when the server shuts down: open event streams end instead of holding it up.
STOPPING: web.AppKey[asyncio.Event] = web.AppKey("stopping")
