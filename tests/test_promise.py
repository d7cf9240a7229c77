"""The promise, with the real stages: kill workers at random instants, restart Redis and
qBittorrent under them, and still get exactly one seeding torrent per release and nothing
half-written left behind.

Workers are real `mamfast worker --queue all` processes. The lease is short (3 s) so the
test does not spend its time waiting for SIGKILLed workers' leases to run out.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import pytest
from pydantic import SecretStr

from mamfast import ownership
from mamfast.enqueue import enqueue
from mamfast.models import Status
from mamfast.stages import default_pipeline
from mamfast.stages.staging import PARTIAL_PREFIX
from tests.conftest import make_settings
from tests.support.library import age, audible, book
from tests.support.processes import ROOT, spawn, stop, wait_until

pytestmark = pytest.mark.slow
BOOKS = 8


SAMPLE = (ROOT / "mamfast" / "data" / "demo" / "book.m4b").read_bytes()


def write_library(library: Path) -> list[str]:
    """Real (tiny) m4b files, padded with 1-3 MiB of noise so each book hashes for a while."""
    asins = []
    for i in range(BOOKS):
        asin = f"B0PROMISE{i}"
        parts = {
            f"Book {i} - Part {p:02d}.m4b": SAMPLE + os.urandom(random.randint(1, 3) << 20)
            for p in (1, 2)
        }
        book(
            library / f"Author {i}" / f"Book {i} {{ASIN.{asin}}}",
            {**parts, "cover.jpg": os.urandom(2000)},
            metadata=audible(asin, f"Book {i}", authors=[f"Author {i}"]),
        )
        asins.append(asin)
    age(library)
    return asins


def spawn_real_worker(settings, log: Path):
    return spawn(settings, ["-m", "mamfast", "worker", "--queue", "all"], log=log)


async def test_kills_and_restarts_never_lose_or_duplicate_a_release(
    tmp_path, redis_server, qbit_server, qbit_admin, audnex, make_resources
):
    settings = make_settings(
        tmp_path,
        redis_server.url,
        lock_ttl=3.0,
        reconcile_seconds=1,
        audnex_url=audnex.url,
        qbit_url=qbit_server.url,
        qbit_username=qbit_server.username,
        qbit_password=SecretStr(qbit_server.password),
        qbit_seed_timeout=30.0,
        qbit_skip_checking=False,  # qBittorrent checks the data: slower, and one more path
        max_attempts=20,  # restarts make transient failures; none may end a release
        announce_url=SecretStr("http://127.0.0.1:9/announce"),
    )
    asins = write_library(settings.library_dir)
    res = await make_resources(
        default_pipeline(settings), **settings.model_dump(exclude={"redis_url"})
    )
    report = await enqueue(res)
    assert sorted(r.asin for r in report.releases) == asins

    logs = tmp_path / "logs"
    logs.mkdir()
    workers = [spawn_real_worker(settings, logs / f"w{n}.log") for n in range(2)]
    spawned = 2
    rng = random.Random(1234)
    finished: list[int] = []  # releases already done at each kill

    async def all_done() -> bool:
        records = await res.store.get_many(asins)
        return len(records) == BOOKS and all(r.terminal for r in records)

    try:
        # Chaos: SIGKILL a random worker at a random instant, ten times, and start another;
        # restart Redis (SIGKILL) and qBittorrent (SIGTERM) once each in between.
        for round_ in range(10):
            await asyncio.sleep(rng.uniform(0.2, 1.4))
            victim = workers.pop(rng.randrange(len(workers)))
            finished.append(sum(r.terminal for r in await _records(res, asins)))
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            if round_ == 3:
                redis_server.kill()
                await asyncio.sleep(0.5)
                redis_server.start()
            if round_ == 6:
                await asyncio.to_thread(qbit_server.restart)
            workers.append(spawn_real_worker(settings, logs / f"w{spawned}.log"))
            spawned += 1

        # After the last kill: a lease (3 s) and a couple of reconciler passes (1 s), plus
        # the remaining work. A lock that outlives its killed holder shows up here.
        recovery = await wait_until(all_done, timeout=240, what="every release to finish")
        assert recovery < 45
    finally:
        for worker in workers:
            stop(worker)

    records = await res.store.get_many(asins)
    problems = {r.asin: r.last_error for r in records if r.status is not Status.COMPLETE}
    assert problems == {}
    # One torrent per release in the client, each the recorded one, each seeding.
    torrents = {t["hash"]: t for t in qbit_admin.torrents_info()}
    assert sorted(torrents) == sorted(r.infohash for r in records)
    assert all(t["progress"] == 1 for t in torrents.values())
    # Nothing half-written: no partial staging folder, no temp file, one set of files each.
    seed, out = settings.seed_path, settings.torrent_path
    assert not [p for p in seed.iterdir() if p.name.startswith(PARTIAL_PREFIX)]
    ledger = [p for p in (seed / ownership.LEDGER_DIR).rglob("*") if p.name.startswith(".")]
    assert ledger == []  # no temp file of an interrupted ledger write
    for record in records:
        folder = Path(record.torrent_path or "").parent
        assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".torrent", ".txt"]
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []
    print(f"\nchaos: {spawned} workers; done at each kill: {finished}; then {recovery:.1f}s")
    assert finished[0] < BOOKS  # the kills hit work in progress


async def _records(res, asins):  # type: ignore[no-untyped-def]
    try:
        return await res.store.get_many(asins)
    except Exception:  # Redis may be restarting
        return []
