"""A real qbittorrent-nox on loopback for tests: own profile, known login, nothing public.

Config: WebUI and BitTorrent bound to 127.0.0.1, DHT/PeX/LSD/UPnP
off, no GeoIP download, no queueing, a fast refresh interval so state changes show
within 250 ms, and no login ban (a wrong-password test must not lock 127.0.0.1
out for an hour). The config is written only while qBittorrent is stopped, because
it rewrites the file on exit. The process runs in its own session so a Ctrl-C in
the test runner does not hit it, and is stopped by pid (never by name).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import qbittorrentapi

from mamfast.ops.embedded import free_port

USERNAME = "mamfast"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def pbkdf2_value(password: str, salt: bytes | None = None) -> str:
    """qBittorrent's WebUI\\Password_PBKDF2: PBKDF2-HMAC-SHA512, 100k rounds, 64-byte key."""
    salt = salt if salt is not None else os.urandom(16)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 100_000)
    return f"@ByteArray({base64.b64encode(salt).decode()}:{base64.b64encode(key).decode()})"


@dataclass
class QbitServer:
    """One qbittorrent-nox with its own profile; start/stop/restart are idempotent."""

    home: Path
    username: str = USERNAME
    password: str = field(default_factory=lambda: "pw-" + secrets.token_urlsafe(12))
    web_port: int = field(default_factory=free_port)
    bt_port: int = field(default_factory=free_port)
    binary: str = "qbittorrent-nox"
    refresh_ms: int = 250  # qBittorrent's default is 1500: state changes show that late
    process: subprocess.Popen[bytes] | None = None
    _password_line: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def profile(self) -> Path:
        return self.home / "profile"

    @property
    def downloads(self) -> Path:
        return self.home / "downloads"

    @property
    def log_file(self) -> Path:
        return self.home / "qbittorrent.out"

    @property
    def pid(self) -> int | None:
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        return None

    def config_text(self) -> str:
        if not self._password_line:  # hashing costs ~0.1 s: once per server
            self._password_line = pbkdf2_value(self.password)
        return "\n".join(
            [
                "[LegalNotice]",
                "Accepted=true",
                "[Meta]",
                "MigrationVersion=4",
                "[Network]",
                "PortForwardingEnabled=false",
                "[BitTorrent]",
                f"Session\\Port={self.bt_port}",
                "Session\\Interface=lo",
                "Session\\InterfaceName=lo",
                "Session\\InterfaceAddress=127.0.0.1",
                "Session\\DHTEnabled=false",
                "Session\\PeXEnabled=false",
                "Session\\LSDEnabled=false",
                "Session\\QueueingSystemEnabled=false",
                "Session\\AddTrackersEnabled=false",
                "Session\\TempPathEnabled=false",
                f"Session\\DefaultSavePath={self.downloads}",
                f"Session\\RefreshInterval={self.refresh_ms}",
                "[Preferences]",
                "General\\Locale=en",
                "Connection\\ResolvePeerCountries=false",
                "Connection\\ResolvePeerHostNames=false",
                "WebUI\\Enabled=true",
                "WebUI\\Address=127.0.0.1",
                f"WebUI\\Port={self.web_port}",
                "WebUI\\UseUPnP=false",
                f"WebUI\\Username={self.username}",
                f'WebUI\\Password_PBKDF2="{self._password_line}"',
                "WebUI\\LocalHostAuth=true",
                "WebUI\\MaxAuthenticationFailCount=0",
                "WebUI\\HostHeaderValidation=true",
                "WebUI\\ServerDomains=*",
                "",
            ]
        )

    def start(self, timeout: float = START_TIMEOUT) -> None:
        if self.pid is not None and self.login_ok():
            return
        conf_dir = self.profile / "qBittorrent" / "config"
        conf_dir.mkdir(parents=True, exist_ok=True)
        self.downloads.mkdir(parents=True, exist_ok=True)
        (conf_dir / "qBittorrent.conf").write_text(self.config_text())
        binary = shutil.which(self.binary)
        if binary is None:
            pytest.skip("qbittorrent-nox is not installed (apt-get install qbittorrent-nox)")
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, f"--profile={self.profile}", f"--webui-port={self.web_port}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"qbittorrent-nox exited during startup: {self.log_tail()}")
            if self.login_ok():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"qbittorrent-nox did not answer within {timeout:.0f}s")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (qBittorrent saves its torrents), SIGKILL if it does not exit in time."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def login_ok(self, password: str | None = None) -> bool:
        body = urllib.parse.urlencode(
            {"username": self.username, "password": password or self.password}
        ).encode()
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/auth/login", body, timeout=2) as r:
                return bool(r.read() == b"Ok.")
        except (OSError, urllib.error.URLError):
            return False

    def log_tail(self, lines: int = 20) -> str:
        texts = []
        for path in (self.log_file, self.profile / "qBittorrent" / "logs" / "qbittorrent.log"):
            with contextlib.suppress(OSError):
                texts.append(
                    f"--- {path.name}\n" + "\n".join(path.read_text().splitlines()[-lines:])
                )
        return "\n".join(texts) or "(no log)"


@pytest.fixture(scope="session")
def qbit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QbitServer]:
    server = QbitServer(home=tmp_path_factory.mktemp("qbt"))
    server.start()
    yield server
    server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach qBittorrent's log tail to a failed test that used it."""
    report = yield
    server = getattr(item, "funcargs", {}).get("qbit_server")
    if report.failed and isinstance(server, QbitServer):
        report.sections.append(("qbittorrent-nox log tail", server.log_tail()))
    return report


def emptied_client(server: QbitServer) -> qbittorrentapi.Client:
    """A plain client of a running `server` that holds no torrent (their files are kept)."""
    server.start()
    client = qbittorrentapi.Client(
        host=server.url, username=server.username, password=server.password
    )
    client.torrents_delete(delete_files=False, torrent_hashes="all")
    deadline = time.monotonic() + 5
    while client.torrents_info() and time.monotonic() < deadline:
        time.sleep(0.05)
    return client


@pytest.fixture
def qbit_admin(qbit_server: QbitServer) -> Iterator[qbittorrentapi.Client]:
    """A plain client for assertions; qBittorrent is (re)started and emptied for each test.

    Torrents are removed with their files kept: the files live in the test's tmp_path.
    """
    client = emptied_client(qbit_server)
    yield client
    with contextlib.suppress(qbittorrentapi.APIError):  # a test may have left it stopped
        client.auth_log_out()
