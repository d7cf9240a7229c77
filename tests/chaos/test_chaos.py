"""The promise at scale: kill workers and restart every service while releases run.

Real Redis (AOF), qbittorrent-nox, MediaInfo and three `mamfast worker`
processes (one on the hash queue); Audnex is played by the local stand-in.
One release in twenty has a truncated book: it must stop with that reason
while the chaos goes on around it. The monkey (`monkey.py`) hits a worker
every 1-3 s and restarts Audnex, Redis and qBittorrent once each. Then:

* every release is complete, or needs attention because its book is truncated;
* qBittorrent holds exactly one torrent per finished ASIN: the recorded infohash;
* every .torrent verifies against its staged folder;
* staged files are hardlinks of the library's (same inode);
* no partial folder, temp file or stray output anywhere;
* the library is byte-for-byte what it was.

CI runs 40 releases; by hand: `pytest tests/chaos --releases 500 -s`. The seed is
printed first; `--chaos-seed N` (or CHAOS_SEED=N) replays that run's schedule.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mamfast.models import Release, Status
from mamfast.ops.enqueue import enqueue
from mamfast.stages import default_pipeline
from mamfast.stages import ledger as ownership
from mamfast.torrents.parse import read_torrent
from mamfast.torrents.verify import verify
from tests.chaos.monkey import Monkey
from tests.conftest import make_settings
from tests.support.library import age, padded_books, seed_entries, snapshot
from tests.support.processes import wait_until

pytestmark = pytest.mark.slow
BAD_EVERY = 20  # one release in twenty has a truncated book
RECOVERY_TIMEOUT = 120.0
CHAOS_SECONDS_PER_RELEASE = 2.5  # the monkey rests after this long (runs do ~0.6/s)
PROGRESS_EVERY = 30.0


@pytest.fixture
def chaos_seed(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> int:
    seed = request.config.getoption("--chaos-seed")
    seed = seed if seed is not None else random.SystemRandom().randrange(1 << 32)
    with capsys.disabled():
        print(f"\nchaos seed {seed} (replay: --chaos-seed {seed})")
    return int(seed)


async def test_chaos_never_loses_doubles_or_corrupts_a_release(
    request,
    tmp_path,
    redis_server,
    qbit_server,
    qbit_admin,
    audnex,
    make_services,
    chaos_seed,
    capsys,
):
    releases = request.config.getoption("--releases")
    rng = random.Random(chaos_seed)
    settings = make_settings(
        tmp_path,
        redis_server.url,
        lock_ttl=3.0,  # a SIGKILLed worker's lease runs out quickly...
        reconcile_seconds=1,  # ...and the reconciler notices soon after
        audnex_url=audnex.url,
        audnex_timeout=3.0,
        audnex_rate_per_minute=100,  # the most allowed (Audnex's own limit): it paces metadata
        qbit_url=qbit_server.url,
        qbit_username=qbit_server.username,
        qbit_password=SecretStr(qbit_server.password),
        qbit_seed_timeout=30.0,
        qbit_skip_checking=False,  # qBittorrent checks the data too
        max_attempts=20,  # restarts cause transient failures; none may end a release
        retry_base_seconds=0.2,
        retry_max_seconds=2.0,
        scan_interval_minutes=10_000,
        announce_url=SecretStr("http://127.0.0.1:9/announce"),
    )
    asins = [f"B0CHAOS{i:03d}" for i in range(releases)]
    bad = set(asins[BAD_EVERY - 1 :: BAD_EVERY]) or {asins[-1]}
    folders = padded_books(settings.library_dir, asins, rng)
    for asin, folder in zip(asins, folders, strict=True):
        if asin in bad:
            part = next(folder.glob("*.m4b"))
            part.write_bytes(part.read_bytes()[:5000])  # cut inside the audio data
        elif rng.random() < 0.5:  # half of the books are known to Audnex
            template = audnex.books["B003ZWFO7E"]
            audnex.books[asin] = {**template, "asin": asin, "seriesPrimary": None}
    age(settings.library_dir)
    before = snapshot(settings.library_dir)

    res = await make_services(
        default_pipeline(settings), **settings.model_dump(exclude={"redis_url"})
    )
    report = await enqueue(res.engine)
    assert sorted(r.asin for r in report.releases) == asins

    logs = tmp_path / "logs"
    logs.mkdir()
    monkey = Monkey(
        settings,
        logs,
        rng,
        redis_server,
        qbit_server,
        audnex,
        audnex_outage=rng.uniform(5, 12),
    )
    with capsys.disabled():
        print(f"chaos: {releases} releases, {len(bad)} with a truncated book; {monkey.plan()}")
    started = time.monotonic()
    try:
        monkey.start_workers()
        chaos_until = started + max(90.0, releases * CHAOS_SECONDS_PER_RELEASE)
        shown = started
        while True:
            active = await _active(res)
            if active == 0 and all(e.fired for e in monkey.events):
                break
            if time.monotonic() > chaos_until:
                break  # the monkey rests; the rest must finish on its own
            if active is not None:
                await monkey.tick((releases - active) / releases)
            if time.monotonic() - shown > PROGRESS_EVERY:
                shown = time.monotonic()
                with capsys.disabled():
                    print(f"chaos: {releases - (active or 0)}/{releases} done, {monkey.progress()}")
            await asyncio.sleep(0.1)
        await monkey.settle()
        chaos_seconds = time.monotonic() - started

        async def all_done() -> bool:
            return await _active(res) == 0

        try:
            recovery = await wait_until(all_done, timeout=RECOVERY_TIMEOUT, what="every release")
        except AssertionError:
            raise AssertionError(f"{await _unfinished(res, asins)} (seed {chaos_seed})") from None
        finished_in = time.monotonic() - started
        records = await res.engine.store.get_many(asins)
    finally:
        monkey.stop_workers()

    figures = _figures(records, logs, monkey, finished_in, chaos_seconds, recovery, releases)
    with capsys.disabled():
        print("chaos figures: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    context = f"(seed {chaos_seed})"

    assert len(records) == releases, f"a release was lost {context}"
    assert monkey.figures.unclean_stops == [], f"a SIGTERM did not stop cleanly {context}"
    _check_outcomes(records, bad, context)
    complete = [r for r in records if r.status is Status.COMPLETE]
    torrents = {t["hash"]: t for t in qbit_admin.torrents_info()}
    assert sorted(torrents) == sorted(r.infohash for r in complete), (
        f"qBittorrent must hold exactly the recorded torrents {context}"
    )
    assert all(t["progress"] == 1 for t in torrents.values()), context
    await _check_files(settings, records, complete, context)
    assert snapshot(settings.library_dir) == before, f"the library changed {context}"
    assert monkey.figures.redis_restarts == monkey.figures.qbit_restarts == 1, context
    assert monkey.figures.audnex_refused > 0, f"the Audnex outage met no request {context}"
    assert figures["redispatched"], f"no SIGKILL hit a running job {context}"


async def _active(res: Any) -> int | None:
    """Releases not finished yet, or None while Redis is down."""
    try:
        return len(await res.engine.store.active_asins())
    except Exception:  # Redis restarting
        return None


async def _unfinished(res: Any, asins: list[str]) -> str:
    """What the releases that did not finish are doing, for the failure message."""
    records = [r for r in await res.engine.store.get_many(asins) if not r.terminal]
    states = Counter(f"{r.stage}/{r.status}" for r in records)
    examples = "; ".join(
        f"{r.asin} {r.stage}/{r.status} run {r.run} job {await _job_status(res, r)}: "
        f"{r.last_error or '-'}"
        for r in records[:5]
    )
    return f"{len(records)} releases unfinished: {dict(states)}; e.g. {examples}"


async def _job_status(res: Any, record: Release) -> str:
    from arq.jobs import Job

    from mamfast.engine.spec import queue_for

    queue = queue_for(res.engine.stages, record.stage)
    return str(await Job(record.job_id, res.redis, _queue_name=queue).status())


def _check_outcomes(records: list[Release], bad: set[str], context: str) -> None:
    wrong = {
        r.asin: (r.status.value, r.last_error)
        for r in records
        if (r.status is not Status.COMPLETE) != (r.asin in bad)
        or (r.asin in bad and "is truncated" not in (r.last_error or ""))
    }
    assert wrong == {}, f"releases with a wrong outcome {context}"


async def _check_files(
    settings: Any, records: list[Release], complete: list[Release], context: str
) -> None:
    seed, out = settings.seed_folder, settings.torrent_folder
    staged = {Path(r.staging_dir) for r in records if r.staging_dir}
    ours = set(seed_entries(seed))
    assert ours == staged, f"stray or partial folders in the seed folder {context}"
    ledger = [p for p in (seed / ownership.LEDGER_DIR).rglob("*") if p.name.startswith(".")]
    assert ledger == [], f"a temp file of an interrupted ledger write {context}"
    assert len(staged) == len(records), f"a release has two staged folders or none {context}"
    for record in records:
        folder = Path(record.staging_dir or "")
        library = {p.stat().st_ino for p in Path(record.source_dir or "").iterdir()}
        assert {p.stat().st_ino for p in folder.iterdir()} <= library, (
            f"{record.asin}: a staged file is not a hardlink of the book {context}"
        )
    for record in complete:
        outputs = Path(record.torrent_path or "").parent
        names = sorted(p.name.removeprefix(outputs.name) for p in outputs.iterdir())
        assert names == [".bbcode.txt", ".json", ".torrent"], f"{record.asin} {context}"
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]
    assert leftovers == [], context
    with ThreadPoolExecutor(2) as pool:
        for record in complete:
            meta = read_torrent(Path(record.torrent_path or ""))
            assert meta.infohash == record.infohash, f"{record.asin} {context}"
            result = await verify(meta, Path(record.staging_dir or ""), executor=pool)
            assert result.ok, f"{record.asin}: {result} {context}"


def _figures(
    records: list[Release],
    logs: Path,
    monkey: Monkey,
    finished_in: float,
    chaos_seconds: float,
    recovery: float,
    releases: int,
) -> dict[str, object]:
    text = "\n".join(p.read_text(errors="replace") for p in logs.glob("*.log"))
    redispatched = sum(
        len(re.findall(r"B0CHAOS\d+", m)) for m in re.findall(r"re-dispatched \[([^\]]*)\]", text)
    )
    f = monkey.figures
    return {
        "releases": releases,
        "seconds": round(finished_in, 1),
        "per_s": round(releases / finished_in, 2),
        "chaos_s": round(chaos_seconds, 1),
        "tail_s": round(recovery, 1),
        "sigkill": f.sigkills,
        "sigterm": f.sigterms,
        "workers": f.started,
        "redis_restarts": f.redis_restarts,
        "qbit_restarts": f.qbit_restarts,
        "audnex_down_s": round(f.audnex_outage_s, 1),
        "audnex_refused": f.audnex_refused,
        "retries": sum(sum(r.attempts.values()) for r in records),
        "resumed": sum(any(w.startswith("resume:") for w in r.warnings) for r in records),
        "redispatched": redispatched,
        "audnex_skipped": sum(
            any(w.startswith("audnex: missing (unavailable") for w in r.warnings) for r in records
        ),
    }
