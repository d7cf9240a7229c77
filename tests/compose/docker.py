"""The Docker client and compose command the compose test drives, found or explained.

Compose v2 is the `docker compose` plugin; v1 is the standalone `docker-compose` (Debian's
1.29). Either works: the test only uses commands and flags both have.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Docker:
    client: str
    compose: list[str]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

    @property
    def compose_version(self) -> str:
        return "v2 (docker compose)" if self.compose[-1] == "compose" else "v1 (docker-compose)"

    def run(
        self,
        *args: str,
        timeout: float = 120,
        check: bool = True,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return run([self.client, *args], timeout, check, cwd, env or self.env, stdin)


def run(
    argv: Sequence[str],
    timeout: float,
    check: bool,
    cwd: Path | None,
    env: Mapping[str, str],
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env),
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`{shlex.join(argv)}` exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
            f"{proc.stderr[-3000:]}"
        )
    return proc


def find_docker() -> Docker | str:
    """A usable client and compose command, or the reason the compose test cannot run."""
    client = shutil.which("docker")
    if client is None:
        return "no docker client installed (Debian: apt-get install docker.io docker-compose)"
    info = subprocess.run(
        [client, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if info.returncode != 0:
        last = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"no Docker daemon reachable ({last}); start one (scripts/dockerd.sh start)"
    compose = _compose_command(client)
    if compose is None:
        return "neither `docker compose` (v2) nor `docker-compose` (v1) is installed"
    return Docker(client=client, compose=compose)


def _compose_command(client: str) -> list[str] | None:
    wanted = os.environ.get("COMPOSE_COMMAND")  # force one: "docker compose" or "docker-compose"
    if wanted:
        return shlex.split(wanted)
    v2 = subprocess.run([client, "compose", "version"], capture_output=True, timeout=60)
    if v2.returncode == 0:
        return [client, "compose"]
    v1 = shutil.which("docker-compose")
    return [v1] if v1 else None
