"""`docker compose up` as a new user runs it, on a real Docker daemon.

Skipped (with the reason) when no daemon can be reached; `.ci/run` starts one, and sets
REQUIRE_DOCKER=1 so that there a missing daemon fails instead.

One scenario, in the order a user meets it:

1. an empty REDIS_PASSWORD is refused before anything starts;
2. build, then `up -d` with a wrong PUID: every release stops once at `needs_attention`
   naming the folder, its owner and mode, and doctor (run as root through `exec`) reports
   the refusal as the workers' uid;
3. PUID/PGID set from `stat -c '%u:%g'` as the README says, `up -d`, `retry --all-failed`:
   all `ready`, files owned by PUID:PGID, worker and hasher healthy;
4. more books; SIGKILL the worker container while it holds jobs, restart Redis, start
   the worker again: every release `ready`, one staged folder and one torrent each;
5. no secret in the logs; `down -v` leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from mamfast.engine import keys
from mamfast.ops.demo import write_demo_library
from tests.compose import standins
from tests.compose.docker import Docker, find_docker
from tests.compose.stack import (
    AUDNEX_DELAY,
    OVERRIDE,
    ROOT,
    TEST_IMAGE,
    Stack,
    copy_project,
    wait_for,
    write_env,
)
from tests.support.library import age, audible, book, seed_entries
from tests.support.owners import chown_tree, free_ids, owners, shared_folder

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

DEMO_ASINS = {"B0DEMO0001", "B0DEMO0002", "B0DEMO0003"}
# Runs inside the Redis container: returns once the worker holds a metadata job (which
# lasts a few seconds: the Audnex stand-in answers slowly).
WAIT_FOR_A_WORKER_JOB = r"""
end=$(( $(date +%s) + 60 ))
until redis-cli --scan --pattern 'arq:in-progress:mamfast:*' | grep -q ':metadata:'; do
  [ "$(date +%s)" -lt "$end" ] || exit 1
  sleep 0.02
done
"""


@pytest.fixture(scope="module")
def docker() -> Docker:
    found = find_docker()
    if isinstance(found, str):
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(f"the compose test must run here, but {found}")
        pytest.skip(found)
    return found


@pytest.fixture
def workdir() -> Iterator[Path]:
    """The containers' users must reach the data folder."""
    with shared_folder("mamfast-compose-") as folder:
        yield folder


@dataclass
class Scenario:
    stack: Stack
    data: Path
    owner: int  # owns DATA_DIR
    wrong: int  # the PUID a user got wrong
    edits: dict[str, str]  # the .env lines the README says to edit

    @property
    def library(self) -> Path:
        return self.data / "media" / "audiobooks"


def test_compose_up_as_a_new_user(docker: Docker, workdir: Path, capsys) -> None:
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = time.monotonic() - clock
        clock = time.monotonic()

    images = standins.resolve(docker, workdir / "images")
    lap("base images")
    run = prepare(docker, workdir, images)
    stack = run.stack
    refuse_an_empty_password(run)
    docker.run("network", "create", "--internal", f"{stack.name}-net")
    try:
        stack.compose("build", *standins.proxy_build_args(), timeout=1500)
        lap("build")
        wrong_puid(run)
        lap("up, wrong PUID to needs_attention")
        fix_puid(run)
        lap("fix, retry to ready, healthy")
        kill_worker_restart_redis(run)
        lap("SIGKILL worker, restart Redis, to ready")
        logs = stack.logs()
        assert not any(secret in logs for secret in stack.secrets), "a secret reached the logs"
        assert "redis://:***@redis:6379/0" in stack.mamfast("doctor", check=False).stdout
    except BaseException:
        with contextlib.suppress(Exception):
            print(stack.mask(stack.logs())[-20000:])
        raise
    finally:
        stack.compose("down", "-v", "--remove-orphans", timeout=300, check=False)
        docker.run("network", "rm", f"{stack.name}-net", check=False)
    label = f"label=com.docker.compose.project={stack.name}"
    assert docker.run("ps", "-aq", "--filter", label).stdout.split() == []
    assert docker.run("volume", "ls", "-q", "--filter", label).stdout.split() == []
    lap("logs, down -v")
    with capsys.disabled():
        figures = ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
        print(f"\ncompose test ({docker.compose_version}; {images.summary()}): {figures}")


def prepare(docker: Docker, workdir: Path, images: standins.Images) -> Scenario:
    """A TRaSH /data owned by a non-root user, and the project laid out as a user would."""
    owner, wrong = free_ids(2)
    data = workdir / "data"
    write_demo_library(data / "media" / "audiobooks")
    (data / "torrents").mkdir()
    chown_tree(data, owner, owner)
    name = f"mamfast-test-{secrets.token_hex(3)}"
    project = copy_project(workdir / "project")
    override = OVERRIDE.format(
        image=TEST_IMAGE, network=f"{name}-net", tests=ROOT / "tests", delay=AUDNEX_DELAY
    )
    (project / "docker-compose.override.yml").write_text(override)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAMFAST_", "COMPOSE_"))}
    env |= {"MAMFAST_BASE_IMAGE": images.python, "MAMFAST_REDIS_IMAGE": images.redis}
    password, passkey = secrets.token_hex(24), secrets.token_hex(16)
    edits = {
        "DATA_DIR": str(data),
        "REDIS_PASSWORD": password,
        "MAMFAST_ANNOUNCE_URL": f"https://tracker.invalid/tracker.php/{passkey}/announce",
        "PUID": str(wrong),
        "PGID": str(wrong),
        "UMASK": "002",
    }
    assert set(edits) <= readme_edit_keys()
    stack = Stack(docker, project, name, env, secrets=[password, passkey])
    return Scenario(stack, data, owner, wrong, edits)


def refuse_an_empty_password(run: Scenario) -> None:
    write_env(run.stack.project, run.edits | {"REDIS_PASSWORD": ""})
    refused = run.stack.compose("config", "-q", check=False)
    assert refused.returncode != 0 and "REDIS_PASSWORD" in refused.stderr
    write_env(run.stack.project, run.edits)


def wrong_puid(run: Scenario) -> None:
    """One clear needs_attention per release (no retry loop); doctor names the workers' uid."""
    stack, owner, wrong = run.stack, run.owner, run.wrong
    stack.compose("up", "-d", timeout=300)
    wait_for(
        lambda: _all(stack, DEMO_ASINS, "needs_attention"),
        timeout=180,
        what="the scheduler's scan to stop every release at needs_attention",
    )
    for record in stack.records().values():
        assert record["error_type"] == "FolderPermissionError"
        assert record["attempts"] == {"stage": 1}
        error = record["last_error"]
        assert f"/data/torrents has owner {owner}:{owner}" in error
        assert f"mamfast runs as uid {wrong}, gid {wrong}" in error
        assert f"PUID={owner} and PGID={owner}" in error
    checks = _doctor(stack, expect_ok=False)
    writable = checks["output folders"]
    assert not writable["ok"] and f"uid {wrong}, gid {wrong}" in writable["detail"]
    assert "PUID/PGID" in writable["detail"] and f"PUID={owner}" in writable["fix"]
    assert not checks["hardlinks"]["ok"]


def fix_puid(run: Scenario) -> None:
    """The README's fix: PUID/PGID from `stat -c '%u:%g'`, `up -d`, `retry --all-failed`."""
    stack, owner = run.stack, run.owner
    ids = subprocess.run(
        ["stat", "-c", "%u:%g", str(run.data)], capture_output=True, text=True, check=True
    ).stdout.strip()
    puid, pgid = ids.split(":")
    write_env(stack.project, run.edits | {"PUID": puid, "PGID": pgid})
    stack.compose("up", "-d", timeout=300)
    wait_for(
        lambda: stack.mamfast("retry", "--all-failed").returncode == 0, timeout=60, what="retry"
    )
    wait_for(lambda: _all(stack, DEMO_ASINS, "ready"), timeout=180, what="ready after retry")
    checks = _doctor(stack, expect_ok=True)
    for name in ("library", "output folders", "hardlinks"):
        assert checks[name]["ok"], checks[name]
        assert f"checked as uid {owner}, gid {owner}" in checks[name]["detail"]
    made = list((run.data / "torrents").rglob("*"))
    assert made and owners(made) == {(owner, owner)}
    for service in ("worker", "hasher"):
        wait_for(
            lambda s=service: stack.health(s) == "healthy", timeout=120, what=f"{service} healthy"
        )


def kill_worker_restart_redis(run: Scenario) -> None:
    """SIGKILL the worker container while it holds a job, restart Redis: nothing is lost."""
    stack = run.stack
    crash = [f"B0CRASH{n:03d}" for n in range(8)]
    add_books(run.library, crash, run.owner)
    expected = DEMO_ASINS | set(crash)
    stack.mamfast("enqueue")
    watch = stack.compose("exec", "-T", "redis", "sh", "-c", WAIT_FOR_A_WORKER_JOB, check=False)
    assert watch.returncode == 0, "the worker never took a metadata job"
    stack.docker.run("kill", "-s", "KILL", stack.container("worker"))
    orphans = stack.redis_cli("--scan", "--pattern", "arq:in-progress:mamfast:*").split()
    assert any(":metadata:" in job for job in orphans), f"killed between jobs: {orphans}"
    count = int(stack.redis_cli("zcard", keys.RELEASES))
    assert count == len(expected)
    stack.compose("restart", "redis", timeout=120)
    wait_for(lambda: stack.health("redis") == "healthy", timeout=60, what="redis healthy")
    assert int(stack.redis_cli("zcard", keys.RELEASES)) == count
    stack.compose("up", "-d", "worker")
    wait_for(lambda: _all(stack, expected, "ready"), timeout=300, what="ready after the kill")
    staged = [Path(r["staging_dir"]).name for r in stack.records().values()]
    assert len(set(staged)) == len(expected)
    seed, torrents = run.data / "torrents" / "mam", run.data / "torrents" / "mam-files"
    assert [p.name for p in seed_entries(seed)] == sorted(staged)  # no partial folder
    assert len(list(torrents.rglob("*.torrent"))) == len(expected)
    assert not list(torrents.rglob("*.tmp"))


def readme_edit_keys() -> set[str]:
    """The `.env` keys the README's Docker section tells a user to edit."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Docker") :]
    start = section.index("```bash")
    block = section[start : section.index("```", start + 3)]
    return set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", block))


def add_books(library: Path, asins: list[str], owner: int) -> None:
    audio = (resources.files("mamfast") / "data" / "demo" / "book.m4b").read_bytes()
    for asin in asins:
        folder = book(
            library / "Crash Author" / f"Book {asin} {{ASIN.{asin}}}",
            {f"Book {asin}.m4b": audio},
            metadata=audible(asin, f"Book {asin}", authors=["Crash Author"]),
        )
        chown_tree(folder.parent, owner, owner)
    age(library)


def _all(stack: Stack, asins: set[str], status: str) -> bool:
    records = stack.records()
    return set(records) == asins and {r["status"] for r in records.values()} == {status}


def _doctor(stack: Stack, *, expect_ok: bool) -> dict[str, dict[str, Any]]:
    """`docker compose exec -T worker mamfast doctor --json`, run as root like a user's exec."""
    result = stack.mamfast("doctor", "--json", check=False)
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    folders = all(checks[n]["ok"] for n in ("library", "output folders", "hardlinks"))
    assert folders is expect_ok, checks
    return checks
