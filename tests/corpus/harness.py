"""Run a group of corpus cases through the real pipeline in one go.

One workspace per group holds the library, the seed and torrent folders,
mamfast's data folder and a `neighbour` folder beside them. The library and
the neighbour are snapshotted (content digests) before and after. The scan is
`mamfast enqueue --json` and the work is done by two `mamfast worker --queue all`
processes, against the session's Redis and qbittorrent-nox (through a proxy
that can fail one release's add), the fake Audnex (which can misbehave for
one book) and the real MediaInfo. Run as root, the scan and the workers run
without root's power to read and write any file (setpriv drops
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so a file with mode 000 is really
unreadable to them, as it is to a user's container.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from pydantic import SecretStr

from mamfast.config import Settings
from mamfast.display import printable
from mamfast.engine import keys
from mamfast.engine.connections import connect
from mamfast.engine.store import ReleaseStore
from mamfast.errors import DamagedRecordError
from mamfast.models import Release
from mamfast.ops.embedded import free_port
from tests.corpus.cases import Book, Case
from tests.support.fake_audnex import FakeAudnex
from tests.support.library import AN_HOUR_AGO, age, audible, snapshot
from tests.support.processes import ROOT, settings_env, spawn, stop
from tests.support.qbit_proxy import QbitProxy
from tests.support.qbittorrent import QbitServer, emptied_client
from tests.support.receiver import Receiver
from tests.support.records import plant_record, record_doc

AUDIO = ROOT / "tests" / "fixtures" / "audio"
M4B = (AUDIO / "book.m4b").read_bytes()
MP3 = (AUDIO / "track.mp3").read_bytes()
JPG = (ROOT / "mamfast" / "data" / "demo" / "cover.jpg").read_bytes()
AUTHOR = "Corpus Author"
WORKERS = 2
FINISH_TIMEOUT = 180.0

CONTENT: dict[str, bytes] = {
    "m4b": M4B,
    "mp3": MP3,
    "m4b-truncated": M4B[: len(M4B) // 2],
    "mp3-truncated": MP3[: len(MP3) // 3],
    "m4b-large": M4B + bytes(4 << 20),  # 4 MiB of padding: more than a tiny disk holds
    "mp3-as-m4b": MP3,
    "empty": b"",
    "text": b"This is not audio, only a text file with the wrong extension.\n" * 64,
    "jpg": JPG,
    "pdf": b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n",
    "aax": b"\x00\x00\x00\x20aax-encrypted" * 64,
}


@dataclass
class Workspace:
    """The folders of one group run. `root` holds everything; the library, the seed and
    torrent folders and the neighbour may live on another filesystem mounted inside it."""

    root: Path
    library: Path
    seed: Path
    torrents: Path
    neighbour: Path

    @classmethod
    def create(
        cls, root: Path, *, disk: Path | None = None, seed_disk: Path | None = None
    ) -> Workspace:
        """`disk`: where the library, seed and torrent folders go (default: root);
        `seed_disk`: where the seed folder goes instead (default: on `disk`)."""
        base = disk or root
        ws = cls(
            root=root,
            library=base / "library",
            seed=(seed_disk or base) / "seed",
            torrents=base / "torrents",
            neighbour=base / "neighbour",
        )
        # The user makes the folders; creating one would change its parent's mtime.
        for folder in (ws.library, ws.neighbour, ws.seed, ws.torrents, ws.data, ws.logs):
            folder.mkdir()
        return ws

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def ours(self) -> list[Path]:
        """mamfast's own folders (and the test's logs): everything else must stay as it was."""
        return [self.seed, self.torrents, self.data, self.logs]

    def folder_of(self, case: Case, copy: int = 0) -> Path:
        book = case.book or Book()
        name = book.folder or f"{case.id} [{case.release_asin}]"
        if book.in_seed:
            return self.seed / name
        return self.library / AUTHOR / (name if copy == 0 else f"{name} (copy {copy})")

    def places(self, case: Case) -> dict[str, str]:
        """What a case's planted record or state file may name."""
        return {
            "root": str(self.root),
            "seed": str(self.seed),
            "neighbour": str(self.neighbour),
            "folder": str(self.folder_of(case)),
            "asin": case.release_asin,
        }


def make_removable(root: Path) -> None:
    """Undo the cases' chmods so pytest can delete the folder."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)


@contextlib.contextmanager
def small_disk(mount_point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mount_point` (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a small filesystem for the disk-full cases needs root to mount")
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill_up(folder: Path) -> None:
    """Write a file into `folder` until its filesystem has not one byte left."""
    fd = os.open(folder / "filler.bin", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, bytes(size)):
                    pass
    finally:
        os.close(fd)


def unprivileged() -> list[str]:
    """The command prefix that runs the scan and the workers without root's file powers."""
    if os.geteuid() != 0:
        return []  # file permissions already apply to us
    if shutil.which("setpriv") is None:
        raise RuntimeError("setpriv (util-linux) is needed to run workers as a plain user")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps=-all", "--"]


# --------------------------------------------------------------------------- building input


def build_book(ws: Workspace, case: Case) -> list[Path]:
    """Write the case's book folder(s); returns them."""
    book = case.book
    if book is None:
        return []
    folders = [ws.folder_of(case, copy) for copy in range(book.copies)]
    for folder in folders:
        if book.outside:  # the files live beside the library; the library holds a symlink
            real = ws.neighbour / f"outside {case.id}"
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.symlink_to(real, target_is_directory=True)
            folder = real
        folder.mkdir(parents=True)
        for name, kind in book.files.items():
            _write(folder / name, kind, beside=ws.neighbour / f"beside {case.id}")
        if book.in_seed:  # someone else's download: hardlinked from beside mamfast's folders
            linked = ws.neighbour / f"linked {case.id}"
            linked.mkdir()
            for name in book.files:
                os.link(folder / name, linked / name)
        meta_name = f"{folder.name[:40]}.metadata.json"
        if book.metadata_text is not None:
            (folder / meta_name).write_bytes(book.metadata_text)
        elif book.metadata is not None:
            dump = audible(case.release_asin, f"Corpus {case.id}", authors=[AUTHOR])
            for key, value in book.metadata.items():
                if value is None:
                    dump.pop(key, None)
                else:
                    dump[key] = value
            (folder / meta_name).write_text(json.dumps(dump), encoding="utf-8")
    return folders


def _write(path: Path, kind: str, *, beside: Path) -> None:
    """A file of `kind`; `beside` is a folder outside the library for a symlink's target."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
        (path / "inside.txt").write_text("a folder named like audio\n")
    elif kind == "link-outside":
        beside.mkdir(exist_ok=True)
        (beside / path.name).write_bytes(M4B)
        path.symlink_to(beside / path.name)
    elif kind == "link-dangling":
        path.symlink_to(path.with_name(f"gone {path.name}"))
    else:
        path.write_bytes(CONTENT[kind])


def apply_modes(ws: Workspace, case: Case) -> None:
    """chmod what the case says, last (after `age`, which must still reach into folders)."""
    book = case.book
    if book is None:
        return
    folder = ws.folder_of(case)
    for name, mode in book.modes.items():
        if name == "metadata":
            target = next(folder.glob("*.metadata.json"))
        else:
            target = folder if name == "." else folder / name
        target.chmod(mode)


def fill_neighbour(ws: Workspace) -> None:
    """Things beside mamfast's folders that look tempting: they must stay as they are."""
    other = ws.neighbour / "Some.Other.Download [B0NEIGHBOR]"
    other.mkdir()
    (other / "movie.mkv").write_bytes(b"not ours" * 100)
    (ws.neighbour / "notes.txt").write_text("my own notes\n")
    (ws.root / "etc").mkdir()
    (ws.root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")


# --------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    """What one case ended as, as the user would see it."""

    case: Case
    status: str  # a release status, or rejected / duplicate / damaged / kept / missing
    text: str  # the reason, last_error or warnings
    stage: str | None = None
    record: Release | None = None
    folders: list[Path] = field(default_factory=list)

    def describe(self) -> str:
        where = f" at {self.stage}" if self.stage else ""
        return f"{self.case.id}: {self.status}{where}: {self.text or '(nothing said)'}"


Snapshot = dict[str, tuple[object, ...]]
CompletedRun = subprocess.CompletedProcess[str]


@dataclass
class CleanupRun:
    """`mamfast cleanup` (its output piped, as in `mamfast cleanup | cat`), then with
    `--apply`, and mamfast's own folders before, between and after."""

    listed: CompletedRun
    applied: CompletedRun
    before: Snapshot
    after_listing: Snapshot
    after_apply: Snapshot


@dataclass
class GroupRun:
    ws: Workspace
    settings: Settings
    outcomes: dict[str, Outcome]
    before: Snapshot
    after: Snapshot
    worker_exits: list[int | None]
    worker_logs: str
    seconds: float
    torrents_in_client: dict[str, str]  # infohash -> name
    scan: dict[str, Any]
    status: CompletedRun  # `mamfast status` after the run
    # With `follow_up`: `mamfast enqueue --dry-run` and `mamfast cleanup` after the run.
    preview: CompletedRun | None
    cleanup: CleanupRun | None

    @property
    def records(self) -> list[Release]:
        return [o.record for o in self.outcomes.values() if o.record is not None]


# --------------------------------------------------------------------------- services


def audnex_for(cases: Sequence[Case], audnex: FakeAudnex) -> None:
    """Per-book misbehaviour, and a record for books that should find one."""
    template = audnex.books["B003ZWFO7E"]
    for case in cases:
        if case.audnex is None:
            continue
        if case.audnex == "ok":
            audnex.books[case.release_asin] = {
                **template,
                "asin": case.release_asin,
                "title": f"Corpus {case.id}",
                "seriesPrimary": None,
            }
        else:
            audnex.by_asin[case.release_asin] = case.audnex
    audnex.slow_seconds = 2.0


def qbit_faults(cases: Sequence[Case]) -> Callable[[web.Request, bytes], Awaitable[Any]]:
    """The proxy's intercept: a 500 for the adds of the cases that ask for one."""
    budget: dict[bytes, float] = {}
    for case in cases:
        if case.qbit is not None:
            times = float("inf") if case.qbit == "500" else int(case.qbit.split("x")[1])
            budget[f"{{ASIN.{case.release_asin}}}".encode()] = times

    async def intercept(request: web.Request, body: bytes) -> web.Response | None:
        if not request.path.endswith("/torrents/add"):
            return None
        for marker, left in budget.items():
            if marker in body and left > 0:
                budget[marker] = left - 1
                return web.Response(status=500, text="Internal Server Error")
        return None

    return intercept


# --------------------------------------------------------------------------- the run


def group_settings(ws: Workspace, redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "data_dir": ws.data,
        "library_dir": ws.library,
        "seed_dir": ws.seed,
        "torrent_dir": ws.torrents,
        "announce_url": SecretStr("http://127.0.0.1:9/announce"),
        "max_attempts": 3,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.5,
        "lock_ttl": 3.0,
        "reconcile_seconds": 1,
        "settle_seconds": 0,
        "audnex_timeout": 2.0,
        "audnex_rate_per_minute": 100,  # the most allowed: the shared bucket paces metadata
        "qbit_seed_timeout": 20.0,
        "scan_interval_minutes": 10_000,  # the workers' scan cron must not rescan mid-run
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def mamfast_cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`mamfast ARGS` as the user would run it (same settings and powers as the workers)."""
    return subprocess.run(
        [*unprivileged(), sys.executable, "-m", "mamfast", *args],
        env={**settings_env(settings), **(env or {})},
        cwd=settings.data_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def run_group(
    ws: Workspace,
    cases: Sequence[Case],
    *,
    redis_url: str,
    audnex: FakeAudnex,
    qbit: QbitServer | None,
    full: bool = False,
    follow_up: bool = False,
    **overrides: Any,
) -> GroupRun:
    """Build every case's input, run the pipeline over all of them, collect what happened.

    `full`: fill the disk the neighbour folder is on before anything runs. `follow_up`: run
    `mamfast enqueue --dry-run` and `mamfast cleanup` too, after `mamfast status`.
    """
    started = time.monotonic()
    folders = build_input(ws, cases, full=full)
    before = not_ours(ws, cases, folders)
    audnex_for(cases, audnex)
    client = emptied_client(qbit) if qbit is not None else None
    proxy: QbitProxy | None = None
    if qbit is not None:
        proxy = QbitProxy(upstream=qbit.url, intercept=qbit_faults(cases))
        await proxy.start()
        overrides = {
            "qbit_url": proxy.url,
            "qbit_username": qbit.username,
            "qbit_password": SecretStr(qbit.password),
            **overrides,
        }
    settings = group_settings(ws, redis_url, audnex_url=audnex.url, **overrides)
    redis = await connect(redis_url)
    try:
        await redis.flushdb()
        run = await _run_workers(ws, settings, redis, audnex, cases, folders, follow_up)
        in_client = {t["hash"]: t["name"] for t in client.torrents_info()} if client else {}
    finally:
        await redis.aclose()
        if proxy is not None:
            await proxy.stop()
    after = not_ours(ws, cases, folders)
    for path in run.changed:  # the case removed or changed these on purpose
        _forget(before, path)
        _forget(after, path)
    return GroupRun(
        ws=ws,
        settings=settings,
        outcomes=run.outcomes,
        before=before,
        after=after,
        worker_exits=run.exits,
        worker_logs="\n".join(p.read_text(errors="replace") for p in sorted(ws.logs.glob("*.log"))),
        seconds=time.monotonic() - started,
        torrents_in_client=in_client,
        scan=run.scan,
        preview=run.preview,
        status=run.status,
        cleanup=run.cleanup,
    )


def build_input(ws: Workspace, cases: Sequence[Case], *, full: bool) -> dict[str, list[Path]]:
    """The library (settled), the neighbour folder, the cases' chmods; a full disk if asked."""
    folders = {case.id: build_book(ws, case) for case in cases}
    fill_neighbour(ws)
    if full:
        fill_up(ws.neighbour)
    age(ws.library, AN_HOUR_AGO)
    for folder in _in_seed(cases, folders):
        age(folder, AN_HOUR_AGO)
    for case in cases:
        apply_modes(ws, case)
    return folders


def _in_seed(cases: Sequence[Case], folders: dict[str, list[Path]]) -> list[Path]:
    """The folders cases put in the seed folder: not mamfast's, though they sit among its own."""
    return [f for c in cases if c.book is not None and c.book.in_seed for f in folders[c.id]]


def not_ours(ws: Workspace, cases: Sequence[Case], folders: dict[str, list[Path]]) -> Snapshot:
    """Everything that is not mamfast's: it must stay as it was."""
    state = snapshot(ws.root, skip=ws.ours)
    for folder in _in_seed(cases, folders):
        state.update(snapshot(folder))
    return state


def _filled(value: Any, places: dict[str, str]) -> Any:
    """`value` (a case's JSON) with {root}, {seed}, ... in its strings filled in."""
    if isinstance(value, str):
        for name, path in places.items():
            value = value.replace(f"{{{name}}}", path)
        return value
    if isinstance(value, Mapping):
        return {_filled(k, places): _filled(v, places) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, places) for v in value]
    return value


@dataclass
class _WorkerRun:
    outcomes: dict[str, Outcome]
    scan: dict[str, Any]  # `mamfast enqueue --json`
    exits: list[int | None]  # None while running at the end, then the codes after SIGTERM
    changed: list[Path]  # library folders the cases removed or changed
    status: CompletedRun
    preview: CompletedRun | None
    cleanup: CleanupRun | None


T = TypeVar("T")
WIDE = {"COLUMNS": "250"}  # tables unwrapped, so a line of output is one release


async def _run_workers(
    ws: Workspace,
    settings: Settings,
    redis: Any,
    audnex: FakeAudnex,
    cases: Sequence[Case],
    folders: dict[str, list[Path]],
    follow_up: bool,
) -> _WorkerRun:
    """Records and state files first, the scan, then the workers until every queued release
    is terminal; `mamfast status`, `enqueue --dry-run` and `cleanup` afterwards; last, the
    books to scan again after Redis lost everything."""
    store = ReleaseStore(redis)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for case in cases:
            if case.planted is not None:
                fields = _filled(case.planted, ws.places(case))
                await plant_record(
                    redis, case.release_asin, record_doc(case.release_asin, **fields)
                )
        said = await _gather(*(functools.partial(_import, ws, settings, c) for c in cases))
        imported = dict(zip([c.id for c in cases], said, strict=True))
        scan = await asyncio.to_thread(_scan, settings)
        changed = _after_scan(cases, folders)
        argv = ["-m", "mamfast", "worker", "--queue", "all"]
        workers = [
            spawn(settings, argv, log=ws.logs / f"w{n}.log", wrapper=unprivileged())
            for n in range(WORKERS)
        ]
        queued = [c.release_asin for c in cases if c.reaches_the_queue]
        changed += await _until_finished(store, audnex, cases, folders, queued, workers)
        status, preview, cleanup = await _afterwards(ws, settings, follow_up)
        cleaned = _cleanup_lines(cleanup) if cleanup else {}
        outcomes = {
            c.id: await _outcome(
                store, c, scan, folders[c.id], imported[c.id] or _about(cleaned, folders[c.id])
            )
            for c in cases
        }
        again = [c for c in cases if c.during == REDIS_LOST]
        if again:
            changed += await _lose_redis(redis, again, folders)
            rescan = await asyncio.to_thread(_scan, settings, *(folders[c.id][0] for c in again))
            asins = [c.release_asin for c in again]
            changed += await _until_finished(store, audnex, again, folders, asins, workers)
            for case in again:
                outcomes[case.id] = await _outcome(store, case, rescan, folders[case.id], "")
        running = [w.poll() for w in workers]
    finally:
        for worker in workers:
            stop(worker)
    exits = [*running, *(w.returncode for w in workers)]
    return _WorkerRun(outcomes, scan, exits, changed, status, preview, cleanup)


async def _gather(*calls: Callable[[], T]) -> list[T]:
    """Blocking calls (CLI runs, mostly interpreter start-up) side by side."""
    return list(await asyncio.gather(*(asyncio.to_thread(call) for call in calls)))


async def _afterwards(
    ws: Workspace, settings: Settings, follow_up: bool
) -> tuple[CompletedRun, CompletedRun | None, CleanupRun | None]:
    """What the user runs after the run: `mamfast status`; with `follow_up` also a scan that
    changes nothing (`enqueue --dry-run`) and `mamfast cleanup`, then `cleanup --apply`."""
    status = functools.partial(mamfast_cli, settings, "status", env=WIDE)
    if not follow_up:
        return await asyncio.to_thread(status), None, None
    before = _ours(ws)
    shown, preview, listed = await _gather(
        status,
        functools.partial(mamfast_cli, settings, "enqueue", "--dry-run", env=WIDE),
        functools.partial(mamfast_cli, settings, "cleanup", env=WIDE),
    )
    assert preview.returncode == 0, f"mamfast enqueue --dry-run failed:\n{preview.stderr}"
    after_listing = _ours(ws)
    applied = await asyncio.to_thread(mamfast_cli, settings, "cleanup", "--apply", env=WIDE)
    return shown, preview, CleanupRun(listed, applied, before, after_listing, _ours(ws))


def _ours(ws: Workspace) -> Snapshot:
    """The seed and torrent folders, to see what `mamfast cleanup` changes."""
    return {**snapshot(ws.seed), **snapshot(ws.torrents)}


def _scan(settings: Settings, *paths: Path) -> dict[str, Any]:
    done = mamfast_cli(settings, "enqueue", "--json", *map(str, paths))
    assert done.returncode == 0, f"mamfast enqueue failed:\n{done.stderr}"
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _import(ws: Workspace, settings: Settings, case: Case) -> str:
    """`mamfast state import` of the case's state file; what it said, on one line."""
    if case.imported is None:
        return ""
    path = ws.data / f"import {case.id}.json"
    path.write_text(json.dumps(_filled(case.imported, ws.places(case))), encoding="utf-8")
    done = mamfast_cli(settings, "state", "import", str(path), env=WIDE)
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 0 and "Traceback" not in said, said
    return said


def _cleanup_lines(cleanup: CleanupRun) -> dict[str, str]:
    """What the clean-up said about each folder, by the folder's name."""
    said: dict[str, str] = {}
    for line in (cleanup.listed.stdout + cleanup.applied.stdout).splitlines():
        for word in ("removed", "would remove", "kept"):
            if line.startswith(word):
                path = line[len(word) :].strip().split(": ", 1)[0]
                said[Path(path).name] = " ".join(line.split())
    return said


def _about(lines: dict[str, str], folders: list[Path]) -> str:
    return "; ".join(lines[f.name] for f in folders if f.name in lines)


def _forget(state: Snapshot, path: Path) -> None:
    """Drop a removed folder and its parent's entry (its mtime changed with the removal)."""
    prefix = f"{path}{os.sep}"
    for key in [k for k in state if k == str(path) or k.startswith(prefix)]:
        del state[key]
    state.pop(str(path.parent / "."), None)
    state.pop(str(path.parent), None)


# --------------------------------------------------------------------------- while it runs

REDIS_LOST = "redis-lost-and-renamed"


def _after_scan(cases: Sequence[Case], folders: dict[str, list[Path]]) -> list[Path]:
    changed = []
    for case in cases:
        folder = folders[case.id][0] if folders[case.id] else None
        if folder is None:
            continue
        if case.during == "delete-source-after-scan":
            shutil.rmtree(folder)
            changed.append(folder)
        elif case.during == "break-part-after-scan":  # the second part becomes a dead link
            part = sorted(p for p in folder.iterdir() if p.suffix == ".m4b")[1]
            part.unlink()
            part.symlink_to(part.with_name(f"gone {part.name}"))
            changed.append(folder)
    return changed


async def _lose_redis(
    redis: Any, cases: Sequence[Case], folders: dict[str, list[Path]]
) -> list[Path]:
    """Redis loses everything; then Libation gives the books a new release date, so the
    MAM folder name mamfast computes today differs from the one it staged."""
    await redis.flushdb()
    # With no last scan on record the workers' scan cron would rescan the whole library;
    # only these books are scanned again.
    await redis.set(keys.LAST_SCAN, time.time())
    changed = []
    for case in cases:
        if case.during == REDIS_LOST:
            folder = folders[case.id][0]
            meta = next(folder.glob("*.metadata.json"))
            dump = json.loads(meta.read_text(encoding="utf-8"))
            dump["release_date"] = "2022-06-01"
            meta.write_text(json.dumps(dump), encoding="utf-8")
            age(folder, AN_HOUR_AGO + 60)  # written a while ago, after the first scan
            changed.append(folder)
    return changed


async def _until_finished(
    store: ReleaseStore,
    audnex: FakeAudnex,
    cases: Sequence[Case],
    folders: dict[str, list[Path]],
    asins: list[str],
    workers: list[subprocess.Popen[bytes]],
) -> list[Path]:
    """Wait until every queued release is terminal, doing the cases' mid-run actions."""
    pending = {c.id: c for c in cases if c.during and c.during.endswith("-mid-metadata")}
    removed: list[Path] = []
    deadline = time.monotonic() + FINISH_TIMEOUT
    while True:
        for case in list(pending.values()):
            asin = case.release_asin
            if not audnex.count(f"/books/{asin}"):
                continue
            record = await store.get(asin)
            if record is None or not record.staging_dir:
                continue
            target = Path(record.staging_dir)
            if case.during == "delete-source-mid-metadata":
                target = folders[case.id][0]
                removed.append(target)
            shutil.rmtree(target)
            del pending[case.id]
        records = await store.get_many(asins)
        if len(records) == len(asins) and all(r.terminal for r in records) and not pending:
            return removed
        if any(w.poll() is not None for w in workers):
            raise AssertionError(f"a worker exited during the run: {[w.poll() for w in workers]}")
        if time.monotonic() > deadline:
            unfinished = {r.asin: (r.stage, r.status) for r in records if not r.terminal}
            raise AssertionError(
                f"not finished after {FINISH_TIMEOUT:.0f}s: {unfinished}, "
                f"{len(asins) - len(records)} without a record, pending actions {list(pending)}"
            )
        await asyncio.sleep(0.05)


async def _outcome(
    store: ReleaseStore, case: Case, scan: dict[str, Any], folders: list[Path], said: str
) -> Outcome:
    """`said`: what `mamfast state import` said about the case's file, or `mamfast cleanup`
    about its folder."""
    if case.book is not None and case.book.in_seed:
        kept = all(f.is_dir() for f in folders)
        return Outcome(case, "kept" if kept else "removed", said, folders=folders)
    try:
        record = await store.get(case.release_asin)
    except DamagedRecordError as exc:
        return Outcome(case, "damaged", f"{exc.message}; {exc.hint}", folders=folders)
    if record is not None:
        text = "; ".join(filter(None, [record.last_error, *record.warnings, said]))
        return Outcome(case, record.status.value, text, record.stage.value, record, folders)
    if said:
        return Outcome(case, "rejected", said, folders=folders)
    discovery = scan["discovery"]
    for dup in discovery["duplicates"]:
        if dup["asin"] == case.release_asin:
            return Outcome(case, "duplicate", dup["reason"], folders=folders)
    mine = {printable(str(f)) for f in folders}  # how reports carry a path (not UTF-8, say)
    for reject in discovery["rejects"]:
        if reject["path"] in mine:
            return Outcome(case, "rejected", reject["reason"], folders=folders)
    return Outcome(case, "missing", "neither a release nor a reason from the scan", None, None)


# --------------------------------------------------------------------------- settings cases


@dataclass
class SettingRun:
    outcome: Outcome
    exit_code: int
    output: str
    before: Snapshot
    after: Snapshot
    received: dict[str, int]  # notifications per receiver path ("works", "down")


async def run_setting_case(
    ws: Workspace,
    case: Case,
    *,
    redis_url: str,
    audnex: FakeAudnex,
    qbit: QbitServer,
    hook: Receiver,
) -> SettingRun:
    """The case's command (`mamfast run` or `enqueue`) with the bad setting, on one book.

    `hook` receives notifications; its `/down` path answers 500.
    """
    folders = build_input(ws, [case], full=False)[case.id]
    config = ws.root / "config"
    config.mkdir()
    for name, content in case.config_files.items():
        (config / name).write_bytes(content)
    before = snapshot(ws.root, skip=ws.ours)
    qbit.start()
    settings = group_settings(
        ws,
        redis_url,
        audnex_url=audnex.url,
        qbit_url=qbit.url,
        qbit_username=qbit.username,
        qbit_password=SecretStr(qbit.password),
        qbit_seed_timeout=10.0,
    )
    hook.down.add("/down")
    places = {
        "root": ws.root,
        "seed": ws.seed,
        "data": ws.data,
        "port": free_port(),
        "hook": hook.url("").rstrip("/"),
    }
    env = {key: value.format(**places) for key, value in case.env.items()}
    redis = await connect(redis_url)
    try:
        await redis.flushdb()
        for _ in range(case.runs):
            done = await asyncio.to_thread(
                mamfast_cli, settings, *(case.command or _default_command(case)), env=env
            )
            said = " ".join((done.stdout + done.stderr).split())
        record = await ReleaseStore(redis).get(case.release_asin)
    finally:
        await redis.aclose()
    output = done.stdout + done.stderr
    if record is not None:
        text = record.last_error or "; ".join([*record.warnings, said])
        outcome = Outcome(case, record.status.value, text, record.stage.value, record, folders)
    else:
        status = "refused" if done.returncode != 0 else "missing"
        outcome = Outcome(case, status, said, folders=folders)
    received = {path.strip("/"): len(hook.at(path.strip("/"))) for path in ("/works", "/down")}
    after = snapshot(ws.root, skip=ws.ours)
    return SettingRun(outcome, done.returncode, output, before, after, received)


def _default_command(case: Case) -> tuple[str, ...]:
    return ("run",) if case.expect == "needs_attention" else ("enqueue",)
