"""The chaos monkey: worker processes to kill and replace, and the service restarts.

Three `mamfast worker` processes run (two on the default queue, one on the hash
queue). Every 1-3 s one of them is hit, SIGKILL three times in four, else
SIGTERM (which must exit cleanly), and a fresh one takes its place. Once
during the run, at a share of releases done that the seed picks, Audnex fails
for a while, Redis is SIGKILLed and restarted, and qBittorrent is restarted.
Every choice comes from one `random.Random(seed)`: the same seed replays the
same schedule (the processes' own timing still varies).
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from mamfast.config import Settings
from mamfast.ops.embedded import RedisServer
from tests.support.fake_audnex import FakeAudnex
from tests.support.processes import spawn, stop
from tests.support.qbittorrent import QbitServer

QUEUES = ("default", "default", "hash")
SIGTERM_SHARE = 0.25
# A worker SIGTERMed before it has set up its signal handlers dies of the signal (-15):
# nothing ran in it yet, so that is a clean stop too.
STARTING_SECONDS = 5.0
AUDNEX_REFUSALS = 3
AUDNEX_MAX_OUTAGE = 45.0


@dataclass
class Worker:
    queue: str
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)

    def stopped_cleanly(self) -> bool:
        """After SIGTERM: exit 0, or the signal itself while it was still starting."""
        code = self.proc.returncode
        starting = code == -signal.SIGTERM and time.monotonic() - self.started < STARTING_SECONDS
        return code == 0 or starting


@dataclass
class Figures:
    sigkills: int = 0
    sigterms: int = 0
    started: int = 0
    unclean_stops: list[str] = field(default_factory=list)
    redis_restarts: int = 0
    qbit_restarts: int = 0
    audnex_outage_s: float = 0.0
    audnex_refused: int = 0


@dataclass
class Event:
    name: str
    at_share: float  # fires once this share of the releases is finished
    fired: bool = False


@dataclass
class Monkey:
    settings: Settings
    logs: Path
    rng: random.Random
    redis: RedisServer
    qbit: QbitServer
    audnex: FakeAudnex
    audnex_outage: float
    workers: list[Worker] = field(default_factory=list)
    figures: Figures = field(default_factory=Figures)
    events: list[Event] = field(default_factory=list)
    next_hit: float = 0.0
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.events = [
            Event("audnex", self.rng.uniform(0.05, 0.2)),
            Event("redis", self.rng.uniform(0.25, 0.45)),
            Event("qbittorrent", self.rng.uniform(0.5, 0.7)),
        ]

    def progress(self) -> str:
        f = self.figures
        return (
            f"{f.sigkills} SIGKILLs, {f.sigterms} SIGTERMs, "
            f"events fired: {[e.name for e in self.events if e.fired]}"
        )

    def plan(self) -> str:
        return ", ".join(f"{e.name} at {e.at_share:.0%} done" for e in self.events)

    # ------------------------------------------------------------------ workers

    def start_workers(self) -> None:
        for queue in QUEUES:
            self._start(queue)
        self.next_hit = time.monotonic() + self.rng.uniform(1, 3)

    def _start(self, queue: str) -> None:
        self.figures.started += 1
        log = self.logs / f"worker-{self.figures.started:04d}-{queue}.log"
        argv = ["-m", "mamfast", "worker", "--queue", queue]
        self.workers.append(Worker(queue, spawn(self.settings, argv, log=log)))

    async def hit_a_worker(self) -> None:
        victim = self.workers.pop(self.rng.randrange(len(self.workers)))
        if self.rng.random() < SIGTERM_SHARE:
            self.figures.sigterms += 1
            victim.proc.send_signal(signal.SIGTERM)
            self._start(victim.queue)  # the replacement starts while the victim winds down
            try:
                await asyncio.to_thread(victim.proc.wait, 30)
            except subprocess.TimeoutExpired:
                victim.proc.kill()
                victim.proc.wait()
            self._judge(victim)
        else:
            self.figures.sigkills += 1
            victim.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(victim.proc.wait)
            self._start(victim.queue)

    def stop_workers(self) -> None:
        for worker in self.workers:
            stop(worker.proc, timeout=30)
            self._judge(worker)

    def _judge(self, worker: Worker) -> None:
        if not worker.stopped_cleanly():
            self.figures.unclean_stops.append(
                f"{worker.queue} worker pid {worker.proc.pid}: exit {worker.proc.returncode}"
            )

    # ------------------------------------------------------------------ one tick

    async def tick(self, share_done: float) -> None:
        """Hit a worker when it is time, fire the events whose moment has come."""
        now = time.monotonic()
        if now >= self.next_hit:
            await self.hit_a_worker()
            self.next_hit = time.monotonic() + self.rng.uniform(1, 3)
        for event in self.events:
            if not event.fired and share_done >= event.at_share:
                event.fired = True
                self._background.append(asyncio.create_task(self._fire(event.name)))

    async def _fire(self, name: str) -> None:
        if name == "audnex":
            # Down for the chosen time, and until it has turned away a few lookups.
            before = self.audnex.count()
            self.audnex.always = "500"
            started = time.monotonic()
            while time.monotonic() - started < AUDNEX_MAX_OUTAGE and (
                time.monotonic() - started < self.audnex_outage
                or self.audnex.count() - before < AUDNEX_REFUSALS
            ):
                await asyncio.sleep(0.1)
            self.audnex.always = "ok"
            self.figures.audnex_outage_s = time.monotonic() - started
            self.figures.audnex_refused = self.audnex.count() - before
        elif name == "redis":
            await asyncio.to_thread(self.redis.kill)
            await asyncio.sleep(self.rng.uniform(0.2, 1.0))
            await asyncio.to_thread(self.redis.start)
            self.figures.redis_restarts += 1
        else:
            await asyncio.to_thread(self.qbit.restart)
            self.figures.qbit_restarts += 1

    async def settle(self) -> None:
        """Let events still running finish (a restart must not be left half-done)."""
        await asyncio.gather(*self._background)
