"""Server-sent events: the list and a release page follow the records as they move.

The server reads Redis once per tick and sends only what changed since its last
event to this browser: a `release` event per changed row (with `shown`: whether it
matches the page's filters), `gone` for a record that disappeared, `counts` for the
view tabs and `pool` for the workers panel. The browser never polls and never
reloads; EventSource reconnects by itself after a network blip.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from mamfast.asin import normalize
from mamfast.engine.connections import unreachable
from mamfast.web import present
from mamfast.web.context import ENGINE, POOL, READER, STOPPING

log = logging.getLogger(__name__)

TICK = 0.5  # seconds between reads of Redis, per open page
KEEPALIVE = 15.0  # a comment line now and then keeps proxies from closing an idle stream
RECONNECT_MS = 2000


class _Stream:
    """What one browser has been sent, so each tick sends only the differences."""

    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response
        # Per ASIN, what its last event was made of: the record object (the reader hands
        # back the same object while its stored JSON is unchanged), its progress, its age
        # and whether it matched the filters. A row is rebuilt only when one changed.
        self.sent: dict[str, tuple[object, ...]] = {}
        self.last: dict[str, str] = {}

    async def send(self, event: str, data: Any) -> None:
        payload = json.dumps(data, separators=(",", ":"))
        await self.response.write(f"event: {event}\ndata: {payload}\n\n".encode())

    async def send_changed(self, event: str, data: Any) -> None:
        text = json.dumps(data, sort_keys=True)
        if self.last.get(event) != text:
            self.last[event] = text
            await self.send(event, data)


async def events(request: web.Request) -> web.StreamResponse:
    only = _only(request)
    filters = present.Filters.from_query(request.query)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass events on at once
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RECONNECT_MS}\n\n".encode())
    stream = _Stream(response)
    stopping = request.app[STOPPING]
    quiet = 0.0
    try:
        while not stopping.is_set():
            try:
                await _tick(request, stream, filters, only)
            except (RedisError, OSError) as exc:
                if isinstance(exc, ConnectionResetError):
                    raise  # the browser went away
                url = request.app[ENGINE].settings.secret("redis_url") or "the private Redis"
                message = f"{unreachable(url, exc)}; trying again"
                await stream.send_changed("problem", {"message": message})
            quiet += TICK
            if quiet >= KEEPALIVE:
                quiet = 0.0
                await response.write(b": keep-alive\n\n")
            await _sleep_unless(stopping, TICK)
    except ConnectionResetError:
        return response  # the browser went away
    return response  # the server is stopping


async def _tick(
    request: web.Request, stream: _Stream, filters: present.Filters, only: str | None
) -> None:
    engine = request.app[ENGINE]
    reader = request.app[READER]
    found = await (reader.one(only) if only else reader.everything())
    seen = set()
    for record in found.records:
        seen.add(record.asin)
        progress = found.progress.get(record.asin)
        shown = True if only else filters.matches(record)
        made_of = (record, progress, present.age(record.created_at), shown)
        before = stream.sent.get(record.asin)
        if before == made_of:
            continue
        stream.sent[record.asin] = made_of
        if not shown and (before is None or not before[-1]):
            continue  # not on this page, and never was: nothing to add or take away
        row = present.row(record, progress, engine.settings.max_attempts)
        row["shown"] = shown
        await stream.send("release", row)
    for asin in sorted(set(stream.sent) - seen):
        del stream.sent[asin]
        await stream.send("gone", {"asin": asin})
    await stream.send_changed("problem", {"message": ""})
    if only is None:
        await stream.send_changed("counts", found.counts())
        await stream.send_changed("pool", await request.app[POOL].current())


def _only(request: web.Request) -> str | None:
    raw = request.query.get("asin")
    if not raw:
        return None
    try:
        return normalize(raw)
    except ValueError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None


async def _sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return
