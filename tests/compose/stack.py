"""A compose project as a user would lay it out, and the commands the compose test runs on it.

The shipped files are copied into a fresh folder (so a developer's own `.env` is never
read or touched), `.env` is written from `.env.example` the way the README says, and a
`docker-compose.override.yml` holds what only the test adds: its own image tag, its own
network, and Audnex pointed at the loopback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.compose.docker import Docker, run

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [
    "docker-compose.yml",
    "Dockerfile",
    ".dockerignore",
    ".env.example",
    "README.md",
    "pyproject.toml",
    "requirements.lock",
    "docker",
    "mamfast",
    "workers",
]
TEST_IMAGE = "mamfast-test:compose"
AUDNEX_DELAY = 2  # seconds per Audnex answer: a metadata job lasts long enough to be killed in
OVERRIDE = """\
# Test-only: its own image tag, a network the test made (internal: nothing leaves the
# machine), and Audnex played by the test's stand-in, answering slowly on purpose.
services:
  worker: &test
    image: {image}
    environment:
      MAMFAST_AUDNEX_URL: http://audnex:8080
  hasher: *test
  scheduler: *test
  audnex:
    image: {image}
    entrypoint: [python, -m, tests.support.fake_audnex, --host, 0.0.0.0, --port, "8080"]
    command: [--always, slow, --slow, "{delay}"]
    working_dir: /srv
    volumes: ["{tests}:/srv/tests:ro"]
networks:
  default:
    name: {network}
    external: true
"""


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    return dest


def write_env(project: Path, edits: dict[str, str]) -> None:
    """`cp .env.example .env`, then change exactly the given lines (every key must exist)."""
    lines = (project / ".env.example").read_text().splitlines()
    seen = set()
    for index, line in enumerate(lines):
        key = line.partition("=")[0]
        if not line.startswith("#") and key in edits:
            lines[index] = f"{key}={edits[key]}"
            seen.add(key)
    assert seen == set(edits), f".env.example has no line for {set(edits) - seen}"
    (project / ".env").write_text("\n".join(lines) + "\n")


@dataclass
class Stack:
    docker: Docker
    project: Path
    name: str
    env: dict[str, str]
    secrets: list[str] = field(default_factory=list)

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [*self.docker.compose, "-p", self.name, *args]
        try:
            return run(argv, timeout, check, self.project, self.env)
        except AssertionError as exc:
            raise AssertionError(self.mask(str(exc))) from None

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def mamfast(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`docker compose exec -T worker mamfast ...` (as root, like a user's exec)."""
        return self.compose("exec", "-T", "worker", "mamfast", *args, timeout=120, check=check)

    def records(self) -> dict[str, dict[str, Any]]:
        listed = json.loads(self.mamfast("status", "--json").stdout)
        return {r["asin"]: r for r in listed}

    def container(self, service: str) -> str:
        found = self.compose("ps", "-q", service).stdout.split()
        assert len(found) == 1, f"{service}: containers {found}"
        return found[0]

    def health(self, service: str) -> str:
        state = self.docker.run(
            "inspect", "--format", "{{.State.Health.Status}}", self.container(service)
        )
        return state.stdout.strip()

    def redis_cli(self, *args: str) -> str:
        # The container's REDISCLI_AUTH carries the password; it is never on a command line.
        return self.compose("exec", "-T", "redis", "redis-cli", *args, timeout=60).stdout

    def logs(self) -> str:
        return self.compose("logs", "--no-color", timeout=120).stdout


def wait_for(check: Callable[[], bool], *, timeout: float, what: str, every: float = 1.0) -> float:
    """Poll until `check()` holds; a failing command counts as 'not yet'. Returns seconds."""
    started = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except (AssertionError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
            last = exc
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last error: {last}")
