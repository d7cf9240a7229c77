"""A loopback HTTP proxy in front of the real qBittorrent, for faults no client shows alone.

It forwards every request unchanged (cookies included) and counts the
`torrents/add` calls. With `add_answer` set it forwards an add, lets the real
qBittorrent act on it, and then answers with that instead, as if the reply had
been lost or garbled: the torrent is there, the answer says it is not. The
presets are what each qBittorrent generation says when nothing was added:
`Fails.` (4.5-5.1), 409 and a JSON count of zero (5.2+). `after_add` runs
(in a thread) between forwarding an add and answering it, e.g. to restart
qBittorrent at exactly that moment; `before_forward` runs before any request is
forwarded; `intercept` may answer a request itself (return a response) instead
of forwarding it, e.g. a 500 for one release's add. While qBittorrent is down
the proxy answers 502, as a reverse proxy in front of a restarting container does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from mamfast.ops.embedded import free_port

ADD_PATH = "/api/v2/torrents/add"
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass(frozen=True)
class FakeAnswer:
    status: int
    body: str
    content_type: str = "text/plain"


FAILS_4X = FakeAnswer(200, "Fails.")
CONFLICT_5X = FakeAnswer(409, "Torrent is already present")
ZERO_COUNT_5X = FakeAnswer(
    200,
    '{"success_count":0,"failure_count":1,"pending_count":0,"added_torrent_ids":[]}',
    "application/json",
)


@dataclass
class QbitProxy:
    upstream: str
    add_answer: FakeAnswer | None = None
    after_add: Callable[[], None] | None = None
    before_forward: Callable[[web.Request], Awaitable[None]] | None = None
    intercept: Callable[[web.Request, bytes], Awaitable[web.StreamResponse | None]] | None = None
    adds: int = 0
    bad_gateway: int = 0
    answers: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = _end_to_end(request.headers)
        is_add = request.path == ADD_PATH
        if is_add:
            self.adds += 1
        if self.before_forward is not None:
            await self.before_forward(request)
        if self.intercept is not None:
            instead = await self.intercept(request, body)
            if instead is not None:
                return instead
        try:
            async with self._session.request(
                request.method,
                self.upstream + request.path_qs,
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as upstream:
                payload = await upstream.read()
                status = upstream.status
                out_headers = _end_to_end(upstream.headers)
        except aiohttp.ClientError:
            self.bad_gateway += 1
            return web.Response(status=502, text="Bad Gateway")
        if is_add:
            self.answers.append(payload.decode(errors="replace"))
            if self.after_add is not None:
                await asyncio.to_thread(self.after_add)
            if self.add_answer is not None:
                return web.Response(
                    status=self.add_answer.status,
                    text=self.add_answer.body,
                    content_type=self.add_answer.content_type,
                )
        return web.Response(status=status, body=payload, headers=out_headers)


def _end_to_end(headers: Mapping[str, str]) -> CIMultiDict[str]:
    """Headers without the hop-by-hop ones; repeated ones (Set-Cookie) kept."""
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_HEADERS)
