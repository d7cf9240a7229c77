"""The corpus through the real pipeline: each bad input gets a clear reason, the rest finish.

Every group of cases (tests/corpus/cases.py) runs once, with the control books,
through real workers; then each case is checked on its own, and the whole run
against what must hold whatever the input: the library and the folders beside
mamfast's untouched, nothing half-written, no worker crashed, every staged file
a hardlink of its library file, every finished release's torrent in the client
and verified against its folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import unicodedata
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mamfast.display import printable
from mamfast.models import Release, Status
from mamfast.release.description import AUDIBLE_DOMAINS
from mamfast.stages import ledger as ownership
from mamfast.torrents.parse import read_torrent
from mamfast.torrents.verify import verify
from tests.corpus.cases import CASES, CONTROLS, QUEUED_GROUPS, Case, Group, by_group
from tests.corpus.harness import (
    GroupRun,
    Outcome,
    SettingRun,
    Workspace,
    make_removable,
    run_group,
    run_setting_case,
    small_disk,
)
from tests.support.fake_audnex import FakeAudnex
from tests.support.fastfill import shape_problems
from tests.support.library import seed_entries
from tests.support.qbittorrent import QbitServer
from tests.support.receiver import receiver

pytestmark = pytest.mark.slow
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
NAME_MAX_BYTES = 255
GROUPS = list(QUEUED_GROUPS)
QUEUE_CASES = [c for c in CASES if c.group in GROUPS]
# Groups whose run ends with `mamfast enqueue --dry-run` and `mamfast cleanup` too: the
# others hold a book or two (with a full disk), where they would tell nothing new.
FOLLOWED_UP = ["library"]


class GroupRuns:
    """Each group runs once, when a test first asks for it; its workspace stays until the
    module ends so the tests can look at what it left."""

    def __init__(self, tmp: pytest.TempPathFactory, redis_url: str, qbit: QbitServer) -> None:
        self.tmp, self.redis_url, self.qbit = tmp, redis_url, qbit
        self.runs: dict[str, GroupRun] = {}
        self.setting_runs: dict[str, SettingRun] = {}
        self.cleanup = contextlib.ExitStack()

    def get(self, group: Group) -> GroupRun:
        if group not in self.runs:
            self.runs[group] = self._run(group)
            run = self.runs[group]
            print(f"\ncorpus group {group}: {len(run.outcomes)} cases in {run.seconds:.1f}s")
        return self.runs[group]

    def _run(self, group: Group) -> GroupRun:
        root = self.tmp.mktemp(f"corpus-{group}")
        self.cleanup.callback(make_removable, root)
        cases = by_group(group)
        overrides: dict[str, Any] = {}
        if group == "library":
            ws = Workspace.create(root)
        elif group == "disk-copy":
            seed_disk = self.cleanup.enter_context(small_disk(root / "small", "2m"))
            ws = Workspace.create(root, seed_disk=seed_disk)
            cases = (*cases, *CONTROLS[:1])
            overrides["stage_copy_fallback"] = True
        else:
            disk = self.cleanup.enter_context(small_disk(root / "small", "8m"))
            ws = Workspace.create(root, disk=disk)
        return asyncio.run(
            self._main(
                ws, cases, full=group == "disk-full", follow_up=group in FOLLOWED_UP, **overrides
            )
        )

    def setting(self, case: Case) -> SettingRun:
        if case.id not in self.setting_runs:
            root = self.tmp.mktemp(f"corpus-{case.id}")
            self.cleanup.callback(make_removable, root)
            self.setting_runs[case.id] = asyncio.run(self._setting(Workspace.create(root), case))
        return self.setting_runs[case.id]

    async def _setting(self, ws: Workspace, case: Case) -> SettingRun:
        audnex = FakeAudnex()
        await audnex.start()
        try:
            async with receiver() as hook:
                return await run_setting_case(
                    ws, case, redis_url=self.redis_url, audnex=audnex, qbit=self.qbit, hook=hook
                )
        finally:
            await audnex.stop()

    async def _main(self, ws: Workspace, cases: Sequence[Case], **kwargs: Any) -> GroupRun:
        audnex = FakeAudnex()
        await audnex.start()
        try:
            return await run_group(
                ws, cases, redis_url=self.redis_url, audnex=audnex, qbit=self.qbit, **kwargs
            )
        finally:
            await audnex.stop()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, redis_server, qbit_server) -> Iterator[GroupRuns]:
    runs = GroupRuns(tmp_path_factory, redis_server.url, qbit_server)
    with runs.cleanup:
        yield runs


# --------------------------------------------------------------------------- each case


@pytest.mark.parametrize("case", QUEUE_CASES, ids=lambda c: c.id)
def test_each_case_says_what_happened(case: Case, runs: GroupRuns) -> None:
    outcome = runs.get(case.group).outcomes[case.id]
    assert outcome.status == case.expect, outcome.describe()
    if case.stage is not None:
        assert outcome.stage == case.stage, outcome.describe()
    assert case.sees.lower() in outcome.text.lower(), outcome.describe()
    # A failure mamfast did not foresee reads "unexpected SomeError": that is a bug.
    assert "unexpected" not in outcome.text, outcome.describe()
    if case.imported is not None and outcome.record is not None:
        # Imported as finished: never staged (or hashed, or added) again.
        assert outcome.record.staging_dir is None, outcome.describe()


@pytest.mark.parametrize("case", by_group("settings"), ids=lambda c: c.id)
def test_each_bad_setting_says_which_and_touches_nothing(case: Case, runs: GroupRuns) -> None:
    run = runs.setting(case)
    outcome = run.outcome
    assert outcome.status == case.expect, f"{outcome.describe()}\n{run.output}"
    if case.stage is not None:
        assert outcome.stage == case.stage, outcome.describe()
    assert case.sees.lower() in outcome.text.lower(), outcome.describe()
    assert "Traceback" not in run.output, run.output
    assert "unexpected" not in outcome.text, outcome.describe()
    # `mamfast run` exits 1 when a release needs attention; a refused setting stops at once.
    codes = {"complete": (0,), "needs_attention": (1,)}.get(case.expect, (1, 2))
    assert run.exit_code in codes, run.output
    if case.secret is not None:
        assert case.secret not in run.output + outcome.text
    assert run.after == run.before
    if case.messages is not None:
        # The working URL gets each message once; the failing one is tried on every run.
        assert run.received["works"] == case.messages, run.received
        assert run.received["down"] >= case.runs, run.received


# --------------------------------------------------------------------------- the whole run


@pytest.mark.parametrize("group", GROUPS)
def test_library_and_the_folders_beside_ours_are_untouched(group: str, runs: GroupRuns) -> None:
    run = runs.get(group)
    before, after = run.before, run.after
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    assert {
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": changed,
    } == {"added": [], "removed": [], "changed": []}


@pytest.mark.parametrize("group", GROUPS)
def test_no_worker_crashed(group: str, runs: GroupRuns) -> None:
    run = runs.get(group)
    running_at_the_end, exits_on_sigterm = (
        run.worker_exits[: len(run.worker_exits) // 2],
        run.worker_exits[len(run.worker_exits) // 2 :],
    )
    assert running_at_the_end == [None] * len(running_at_the_end)
    assert exits_on_sigterm == [0] * len(exits_on_sigterm)
    tracebacks = [line for line in run.worker_logs.splitlines() if line.startswith("Traceback")]
    assert tracebacks == [], run.worker_logs[-4000:]


@pytest.mark.parametrize("group", GROUPS)
def test_nothing_half_written_and_nothing_unaccounted_for(group: str, runs: GroupRuns) -> None:
    run = runs.get(group)
    ws, records = run.ws, run.records
    staged = {Path(r.staging_dir) for r in records if r.staging_dir}
    ledger = ws.seed / ownership.LEDGER_DIR  # mamfast's own record of what it staged
    foreign = {f for o in run.outcomes.values() if o.status == "kept" for f in o.folders}
    assert sorted(set(seed_entries(ws.seed)) - staged - foreign) == []  # no partial, nothing else
    assert [p for p in ledger.rglob("*") if p.name.startswith(".")] == []  # no ledger temp
    # A release's outputs go to TORRENT_DIR/<its staged folder's name>/ (the folder may
    # be empty when its first write failed, a disk-full case).
    outputs = {ws.torrents / Path(r.staging_dir).name for r in records if r.staging_dir}
    torrent_dirs = set(ws.torrents.iterdir()) if ws.torrents.exists() else set()
    assert sorted(torrent_dirs - outputs) == []
    leftovers = [p for p in ws.torrents.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]
    assert leftovers == []


@pytest.mark.parametrize("group", GROUPS)
def test_staged_folders_hold_only_hardlinks_of_the_book_with_safe_names(
    group: str, runs: GroupRuns
) -> None:
    run = runs.get(group)
    ws = run.ws
    limit = run.settings.path_limit
    copied = (
        run.settings.stage_copy_fallback
        and run.ws.seed.stat().st_dev != run.ws.library.stat().st_dev
    )
    kind = "copy" if copied else "hardlink"
    problems = []
    for record in run.records:
        if not record.staging_dir or not Path(record.staging_dir).is_dir():
            continue
        folder = Path(record.staging_dir)
        if folder.parent != ws.seed:
            problems.append(f"{record.asin}: staged outside the seed folder: {folder}")
        source = Path(record.source_dir or "")
        originals = {_identity(p, copied) for p in source.iterdir()} if source.is_dir() else None
        for path in folder.iterdir():
            problems += _name_problems(record, folder.name, path.name, limit)
            if originals is not None and _identity(path, copied) not in originals:
                problems.append(f"{record.asin}: {path.name} is not a {kind} of a book file")
    assert problems == []


def _identity(path: Path, copied: bool) -> object:
    """A hardlink is the same inode; a copy (across filesystems) the same bytes."""
    if not copied:
        return path.stat().st_ino
    return path.read_bytes() if path.is_file() else None


def _name_problems(record: Release, folder: str, name: str, limit: int) -> list[str]:
    found = []
    for part in (folder, name):
        if CONTROL.search(part) or "/" in part or part in (".", ".."):
            found.append(f"{record.asin}: unsafe name {part!r}")
        if len(part.encode()) > NAME_MAX_BYTES:
            found.append(f"{record.asin}: {part!r} is over {NAME_MAX_BYTES} bytes")
        if any(unicodedata.category(c) == "Cf" and c not in "\u200d" for c in part):
            found.append(f"{record.asin}: invisible formatting characters in {part!r}")
    if len(f"{folder}/{name}") > limit:
        found.append(f"{record.asin}: {folder}/{name} is over the {limit}-character limit")
    return found


@pytest.mark.parametrize("group", GROUPS)
async def test_finished_releases_seed_the_recorded_torrent_which_verifies(
    group: str, runs: GroupRuns
) -> None:
    run = runs.get(group)
    complete = [
        o.record
        for o in run.outcomes.values()
        if o.record is not None and o.record.status is Status.COMPLETE and not o.case.imported
    ]
    assert {r.infohash for r in complete} <= run.torrents_in_client.keys()
    with ThreadPoolExecutor(2) as pool:
        for record in complete:
            meta = read_torrent(Path(record.torrent_path or ""))
            assert meta.infohash == record.infohash
            result = await verify(meta, Path(record.staging_dir or ""), executor=pool)
            assert result.ok, f"{record.asin}: {result}"


@pytest.mark.parametrize("group", GROUPS)
def test_fast_fill_json_holds_clean_text(group: str, runs: GroupRuns) -> None:
    run = runs.get(group)
    problems = []
    for record in run.records:
        if not record.json_path or not Path(record.json_path).is_file():
            continue
        data = json.loads(Path(record.json_path).read_text(encoding="utf-8"))
        if not str(data.get("title", "")).strip():
            problems.append(f"{record.asin}: empty title")
        problems += [f"{record.asin}: {problem}" for problem in shape_problems(data)]
        for key in ("title", "subtitle", "authors", "narrators", "series"):
            if CONTROL.search(json.dumps(data.get(key), ensure_ascii=False)):
                problems.append(f"{record.asin}: control characters in {key}: {data.get(key)!r}")
    assert problems == []


@pytest.mark.parametrize("group", GROUPS)
def test_status_lists_every_release(group: str, runs: GroupRuns) -> None:
    # What the user runs next (`mamfast status` right after the run) shows every release.
    run = runs.get(group)
    done = run.status
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    missing = [r.asin for r in run.records if r.asin not in done.stdout]
    assert missing == []
    damaged = [o.case.release_asin for o in run.outcomes.values() if o.status == "damaged"]
    unlisted = [
        asin
        for asin in damaged
        if f"mamfast state forget {shlex.quote(printable(asin))}" not in _one_line(done.stdout)
    ]
    assert unlisted == [], done.stdout


@pytest.mark.parametrize("group", GROUPS)
def test_every_case_was_seen(group: str, runs: GroupRuns) -> None:
    run = runs.get(group)
    silent = [o.describe() for o in run.outcomes.values() if _silent(o)]
    assert silent == []


def _silent(outcome: Outcome) -> bool:
    return outcome.status == "missing"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# What a terminal must never receive from outside text: controls (ESC starts a sequence that
# can clear the screen or retitle the window), bidi overrides, stray bytes, line separators.
UNSAFE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


@pytest.mark.parametrize("group", GROUPS)
def test_what_the_scan_and_status_print_is_harmless(group: str, runs: GroupRuns) -> None:
    run = runs.get(group)
    for what, output in (("enqueue", run.preview), ("status", run.status)):
        if output is None:
            continue
        text = output.stdout + output.stderr
        raw = sorted(
            {
                f"U+{ord(c):04X}"
                for c in text
                if unicodedata.category(c) in UNSAFE and c not in "\n\u200c\u200d"
            }
        )
        assert raw == [], f"mamfast {what} printed {raw}:\n{text}"


@pytest.mark.parametrize("group", GROUPS)
def test_no_torrent_is_readable_by_everyone(group: str, runs: GroupRuns) -> None:
    # A .torrent holds the passkey in its announce URL.
    torrents = runs.get(group).ws.torrents.rglob("*.torrent")
    readable = [f"{p}: {oct(p.stat().st_mode & 0o777)}" for p in torrents if p.stat().st_mode & 4]
    assert readable == []


ASIN_TOKEN = re.compile(r"\{ASIN\.([A-Z0-9]{10})\}")


@pytest.mark.parametrize("group", GROUPS)
def test_one_folder_and_one_torrent_per_release(group: str, runs: GroupRuns) -> None:
    run = runs.get(group)
    ws = run.ws
    places = {
        "staged folders": [p.name for p in ws.seed.iterdir()] if ws.seed.is_dir() else [],
        "torrent folders": [p.name for p in ws.torrents.iterdir()] if ws.torrents.is_dir() else [],
        "torrents in qBittorrent": list(run.torrents_in_client.values()),
    }
    twice = {}
    for place, names in places.items():
        asins = [m.group(1) for name in names if (m := ASIN_TOKEN.search(name))]
        twice[place] = sorted(a for a in set(asins) if asins.count(a) > 1)
    assert twice == {place: [] for place in places}


LIVE_TAG = re.compile(r"\[(img|url)(=([^\]]*))?\]", re.IGNORECASE)
# The only links the shipped template writes: the book's page in an Audible store.
OUR_LINKS = tuple(f"https://www.audible.{domain}/pd/" for domain in AUDIBLE_DOMAINS.values())


@pytest.mark.parametrize("group", GROUPS)
def test_descriptions_hold_no_markup_from_book_text(group: str, runs: GroupRuns) -> None:
    # Titles, names and synopses are strangers' text: none of it may become an image or a
    # link on the upload page.
    problems = []
    for record in runs.get(group).records:
        texts = []
        if record.description_path and Path(record.description_path).is_file():
            texts.append(Path(record.description_path).read_text(encoding="utf-8"))
        if record.json_path and Path(record.json_path).is_file():
            data = json.loads(Path(record.json_path).read_text(encoding="utf-8"))
            texts.append(str(data.get("description", "")))
        for text in texts:
            for tag in LIVE_TAG.finditer(text):
                target = tag.group(3) or ""
                if tag.group(1).lower() != "url" or not target.startswith(OUR_LINKS):
                    problems.append(f"{record.asin}: {tag.group(0)}")
    assert problems == []


@pytest.mark.parametrize("group", FOLLOWED_UP)
def test_cleanup_lists_without_removing_and_keeps_what_is_in_use(
    group: str, runs: GroupRuns
) -> None:
    # After a run, `mamfast cleanup | cat` only lists, and `--apply` finds nothing of this
    # run's to remove: every folder a release or qBittorrent uses stays, and so does every
    # folder mamfast did not make.
    cleanup = runs.get(group).cleanup
    assert cleanup is not None
    for done in (cleanup.listed, cleanup.applied):
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert cleanup.after_listing == cleanup.before
    assert "removed" not in cleanup.listed.stdout
    assert cleanup.after_apply == cleanup.before, cleanup.applied.stdout
