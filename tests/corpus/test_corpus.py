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
import unicodedata
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mamfast import ownership
from mamfast.models import Release, Status
from mamfast.torrents.inspect import read_torrent
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
from tests.support.library import seed_entries
from tests.support.qbittorrent import QbitServer

pytestmark = pytest.mark.slow
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
NAME_MAX_BYTES = 255
GROUPS = list(QUEUED_GROUPS)
QUEUE_CASES = [c for c in CASES if c.group in GROUPS]


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
        return asyncio.run(self._main(ws, cases, full=group == "disk-full", **overrides))

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
            return await run_setting_case(
                ws, case, redis_url=self.redis_url, audnex=audnex, qbit=self.qbit
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
    assert run.exit_code == 1 if case.expect == "needs_attention" else run.exit_code in (1, 2)
    if case.secret is not None:
        assert case.secret not in run.output + outcome.text
    assert run.after == run.before


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
    assert sorted(set(seed_entries(ws.seed)) - staged) == []  # no partial folder, nothing foreign
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
    complete = [r for r in run.records if r.status is Status.COMPLETE]
    assert {r.infohash for r in complete} <= run.infohashes_in_client
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


@pytest.mark.parametrize("group", GROUPS)
def test_every_case_was_seen(group: str, runs: GroupRuns) -> None:
    run = runs.get(group)
    silent = [o.describe() for o in run.outcomes.values() if _silent(o)]
    assert silent == []


def _silent(outcome: Outcome) -> bool:
    return outcome.status == "missing"
