"""A local aiohttp server that plays Audnex, and can be told to misbehave.

Books come from tests/fixtures/audnex/<ASIN>.json (shaped like Audnex's
documented `Book` schema); each is served only in the region named in its
`region` field, other regions answer like Audnex does for a region-locked
book. `<ASIN>.chapters.json` holds its chapters. Tests queue misbehaviour
with `server.next(...)` (one per request, in order) or `server.always = ...`;
`server.by_asin[ASIN] = mode` makes one book misbehave while the others are
served normally (it wins over both).

Modes: ok, 429, 500, 502, garbage, html, wrong-types, truncated, slow, hang, drop.

Standalone (the compose test runs it in a container):
    python -m tests.support.fake_audnex --host 0.0.0.0 --port 8080 --always slow --slow 2
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audnex"


def load_books() -> dict[str, dict[str, Any]]:
    return {
        p.stem: json.loads(p.read_text())
        for p in sorted(FIXTURES.glob("*.json"))
        if not p.stem.endswith(".chapters")
    }


def load_chapters() -> dict[str, dict[str, Any]]:
    return {
        p.name.split(".")[0]: json.loads(p.read_text())
        for p in sorted(FIXTURES.glob("*.chapters.json"))
    }


@dataclass
class Request:
    path: str
    region: str
    at: float


@dataclass
class FakeAudnex:
    books: dict[str, dict[str, Any]] = field(default_factory=load_books)
    chapters: dict[str, dict[str, Any]] = field(default_factory=load_chapters)
    old_error_format: bool = False  # answer like pre-2.0 deployments (500 "not available")
    retry_after: str | None = "2"
    slow_seconds: float = 1.0
    always: str = "ok"
    queue: list[str] = field(default_factory=list)
    by_asin: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    _runner: web.AppRunner | None = None

    def next(self, *modes: str) -> None:
        self.queue.extend(modes)

    def count(self, path: str | None = None) -> int:
        """Requests made, all of them or those for exactly `path`."""
        return sum(1 for r in self.requests if path is None or r.path == path)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/books/{asin}", self._book)
        app.router.add_get("/books/{asin}/chapters", self._chapters)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self.host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ handlers

    async def _book(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self.books)

    async def _chapters(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self.chapters, chapters=True)

    async def _serve(
        self, request: web.Request, table: dict[str, dict[str, Any]], *, chapters: bool = False
    ) -> web.StreamResponse:
        region = request.query.get("region", "us")
        self.requests.append(Request(request.path, region, time.monotonic()))
        mode = self.by_asin.get(request.match_info["asin"]) or self._next_mode()
        misbehaved = await self._misbehave(mode, request)
        if misbehaved is not None:
            return misbehaved
        asin = request.match_info["asin"]
        record = table.get(asin)
        book = self.books.get(asin)
        if book is None or (chapters and record is None):
            return self._error(
                404, "NOT_FOUND", f"{'Chapters' if chapters else 'Book'} {asin} not found"
            )
        if book.get("region", "us") != region:
            if self.old_error_format:
                return web.json_response(
                    {
                        "statusCode": 500,
                        "error": "Internal Server Error",
                        "message": f"Item not available in region {region}",
                    },
                    status=500,
                )
            return self._error(404, "REGION_UNAVAILABLE", f"Item not available in region {region}")
        assert record is not None
        return web.json_response(record)

    def _next_mode(self) -> str:
        return self.queue.pop(0) if self.queue else self.always

    async def _misbehave(self, mode: str, request: web.Request) -> web.StreamResponse | None:
        if mode == "ok":
            return None
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
            return None
        if mode == "hang":
            await asyncio.sleep(3600)
        if mode == "429":
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            body = {
                "error": {
                    "code": "RATE_LIMIT_EXCEEDED",
                    "message": "Rate limit exceeded",
                    "details": None,
                }
            }
            return web.json_response(body, status=429, headers=headers)
        if mode == "500":
            return web.json_response(
                {
                    "statusCode": 500,
                    "error": "Internal Server Error",
                    "message": "Database timeout",
                },
                status=500,
            )
        if mode == "502":
            return web.Response(
                status=502, text="<html>Bad gateway</html>", content_type="text/html"
            )
        if mode == "garbage":
            return web.Response(
                status=200, text="<html>I am not JSON</html>", content_type="application/json"
            )
        if mode == "html":  # a captive portal or a proxy's page, with a 200
            return web.Response(
                status=200,
                text="<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>",
                content_type="text/html",
            )
        if mode == "wrong-types":  # JSON, but not shaped like a book
            body = {"asin": request.match_info["asin"], "title": ["not", "text"], "authors": 7}
            return web.json_response(body)
        if mode == "truncated":
            return web.Response(
                status=200,
                text='{"asin": "B003ZWFO7E", "title": "The Wa',
                content_type="application/json",
            )
        if mode == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        raise AssertionError(f"unknown fake Audnex mode {mode!r}")

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response(
            {"error": {"code": code, "message": message, "details": None}}, status=status
        )


async def serve_forever(server: FakeAudnex) -> None:
    await server.start()
    print(f"fake Audnex on {server.url} ({server.always})", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Play Audnex on HOST:PORT until killed.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--always", default="ok", help="mode for every request")
    parser.add_argument("--slow", type=float, default=1.0, help="seconds for the slow mode")
    args = parser.parse_args()
    fake = FakeAudnex(host=args.host, port=args.port, always=args.always, slow_seconds=args.slow)
    asyncio.run(serve_forever(fake))
