"""Commands that read or move records open Redis and nothing else (issue 13, item 1).

`mamfast status`, `retry`, `recover` and `locks` open an `Engine` (Redis, the release store,
the stage specs), never the stages' `Services`: no Audnex HTTP session, no hash thread
pool, no qBittorrent client, however the settings point at those services. Clients
connect lazily, so a connection count alone would miss one being built: the constructors
are watched too, and a control test shows the watch sees what a worker opens.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import qbittorrentapi

from mamfast.engine.store import ReleaseStore
from mamfast.models import Release, Stage, Status
from mamfast.stages import default_pipeline
from mamfast.stages.services import open_services

ASIN = "B0READONLY"


@dataclass
class Listener:
    """A loopback port that counts the connections made to it and answers none."""

    connections: int = 0
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


async def listening() -> AsyncIterator[Listener]:
    listener = Listener()
    listener.server = await asyncio.start_server(listener._accept, "127.0.0.1", 0)
    yield listener
    listener.server.close()
    await listener.server.wait_closed()


qbit_port = pytest.fixture(listening, name="qbit_port")
audnex_port = pytest.fixture(listening, name="audnex_port")


@dataclass
class Opened:
    """What was built or started while watching."""

    http_sessions: int = 0
    qbit_clients: int = 0
    pools: list[str] = field(default_factory=list)  # thread_name_prefix of each executor
    threads: list[str] = field(default_factory=list)

    @property
    def hash_pools(self) -> list[str]:
        return [p for p in self.pools if p.startswith("mamfast-hash")]

    @property
    def hash_threads(self) -> list[str]:
        return [t for t in self.threads if t.startswith("mamfast-hash")]


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[Opened]:
    """Watch the constructors of what `Services` holds, whoever calls them."""
    seen = Opened()

    def watch(cls: type, record) -> None:
        original = cls.__init__

        def init(self, *args, **kwargs) -> None:
            record(self, kwargs)
            original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", init)

    def session(_self, _kwargs) -> None:
        seen.http_sessions += 1

    def client(_self, _kwargs) -> None:
        seen.qbit_clients += 1

    def pool(_self, kwargs) -> None:
        seen.pools.append(kwargs.get("thread_name_prefix", ""))

    watch(aiohttp.ClientSession, session)
    watch(qbittorrentapi.Client, client)
    watch(concurrent.futures.ThreadPoolExecutor, pool)
    start = threading.Thread.start

    def started(self: threading.Thread) -> None:
        seen.threads.append(self.name)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", started)
    yield seen


@pytest.fixture
def pointed(monkeypatch, qbit_port: Listener, audnex_port: Listener) -> None:
    """The commands' settings point qBittorrent and Audnex at the counting ports."""
    monkeypatch.setenv("MAMFAST_QBIT_URL", qbit_port.url)
    monkeypatch.setenv("MAMFAST_QBIT_PASSWORD", "not-used")
    monkeypatch.setenv("MAMFAST_AUDNEX_URL", audnex_port.url)


async def a_failed_release(redis) -> None:
    failed = Release(
        asin=ASIN,
        title="A Book",
        stage=Stage.METADATA,
        status=Status.NEEDS_ATTENTION,
        last_error="Audnex said no",
    )
    await ReleaseStore(redis).create(failed)


COMMANDS = [
    ("status",),  # asks qBittorrent only for the seeding duty of releases marked uploaded
    ("status", "--json"),
    ("status", ASIN),
    ("retry", ASIN),
    ("recover",),
    ("locks",),
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv))
async def test_record_commands_open_nothing_but_redis(
    cli, redis, pointed, qbit_port, audnex_port, opened, argv
):
    await a_failed_release(redis)
    result = await asyncio.to_thread(cli, *argv)
    assert result.exit_code == 0, result.output
    if argv == ("status", "--json"):
        assert [r["asin"] for r in json.loads(result.output)] == [ASIN]
    if argv[0] == "retry":
        record = await ReleaseStore(redis).get(ASIN)
        assert record is not None and record.status is Status.QUEUED  # it did its work

    assert (qbit_port.connections, audnex_port.connections) == (0, 0)
    assert opened.http_sessions == 0
    assert opened.qbit_clients == 0
    assert opened.hash_pools == [] and opened.hash_threads == []


async def test_the_watch_sees_what_a_worker_opens(settings, redis, opened, qbit_port):
    """The control: the same watch, around what a worker builds, sees each of them."""
    worker_settings = settings.model_copy(update={"qbit_url": qbit_port.url})
    services = await open_services(worker_settings, redis, default_pipeline(worker_settings))
    try:
        assert opened.http_sessions == 1
        assert opened.qbit_clients == 1
        assert opened.hash_pools == ["mamfast-hash"]
        await asyncio.wrap_future(services.hash_pool.submit(sum, [1, 2]))
        assert opened.hash_threads  # a hash thread started on first use
    finally:
        await services.close()
