"""The data directory's private Redis, shared by every mamfast process that uses it.

Without MAMFAST_REDIS_URL every command (`run`, `status`, `retry`, `worker`, ...)
uses one Redis server per data directory: an `embedded.RedisServer` on a unix
socket under `<data dir>/redis`. Whoever needs it first starts it, the last one
to leave stops it, and every process sees the same records. Two kernel file
locks (flock) make that safe without trusting any process to exit cleanly:

* `start.lock`, exclusive, is held only while finding, starting or stopping the
  server: two commands starting at once start one server, and nobody attaches
  to a server while it is being stopped.
* `users.lock` is held *shared* by every user for as long as it uses the
  server. A user leaving takes `start.lock`, drops its shared lock and tries to
  take `users.lock` exclusively without waiting. That succeeds only when no
  other user holds it, and no new user can arrive while `start.lock` is held;
  only then is the server stopped. So a command never stops the server under a
  `mamfast run` (or any other user) that attached before or after it.

A process that dies loses its flocks with it: a crashed user never blocks a
stop, it only leaves the server running for the next user to reuse (and the
last one out to stop). A user killed in the middle of a stop leaves the
`stopping` marker behind; the next user finishes that stop before starting
anew, so nobody attaches to a server that is on its way out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from pydantic import SecretStr

from mamfast.config import Settings
from mamfast.errors import ConfigError
from mamfast.ops.embedded import RedisServer, embedded_server

START_LOCK = "start.lock"
USERS_LOCK = "users.lock"
STOPPING = "stopping"
GATE_TIMEOUT = 60.0  # a start or stop takes seconds; longer means a process is stuck


@contextlib.contextmanager
def claimed(settings: Settings, *, start: bool = True) -> Iterator[str | None]:
    """Use the data dir's private Redis (the block gets its URL) for the block's duration.

    With `start=False` a server nobody runs is left alone and the block gets None.
    """
    server = embedded_server(settings)
    users = _attach(server, start=start)
    if users is None:
        yield None
        return
    try:
        yield server.url
    finally:
        _detach(server, users)


@contextlib.asynccontextmanager
async def redis_ready(settings: Settings) -> AsyncIterator[Settings]:
    """`settings` with a Redis to use: MAMFAST_REDIS_URL, else the private one (started)."""
    if settings.redis_url is not None:
        yield settings
        return
    # Blocking calls on purpose: they run before and after the command's work, and a
    # release done in a worker thread could be cut short by Ctrl-C's cancellation.
    with claimed(settings) as url:
        yield settings.model_copy(update={"redis_url": SecretStr(url or "")})


def _attach(server: RedisServer, *, start: bool) -> int | None:
    """Take a user's shared lock and make sure the server runs; the lock's descriptor."""
    try:
        server.home.mkdir(parents=True, exist_ok=True)
        server.home.chmod(0o700)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the private Redis folder {server.home}: {exc.strerror or exc}",
            hint="set MAMFAST_DATA_DIR to a folder you can write, or set MAMFAST_REDIS_URL",
        ) from None
    with _gate(server.home):
        users = os.open(server.home / USERS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            # Never waits: only a leaving user takes it exclusively, and it holds the gate.
            fcntl.flock(users, fcntl.LOCK_SH)
            _finish_interrupted_stop(server)
            if start:
                server.start()
            elif not server.ping():
                os.close(users)
                return None
        except BaseException:
            os.close(users)
            raise
        return users


def _detach(server: RedisServer, users: int) -> None:
    """Drop our shared lock; stop the server if nobody else holds one."""
    closed = False
    try:
        with _gate(server.home):
            try:
                fcntl.flock(users, fcntl.LOCK_UN)
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another process still uses it; the last one stops it
            finally:
                os.close(users)  # inside the gate: no newcomer ever waits on our lock
                closed = True
            marker = server.home / STOPPING
            marker.touch()
            server.stop()
            marker.unlink(missing_ok=True)
    except ConfigError:
        pass  # the gate is stuck: leave the server running for the next user to stop
    finally:
        if not closed:
            os.close(users)


def _finish_interrupted_stop(server: RedisServer) -> None:
    """A user decided to stop the server (nobody used it) and died before it was down."""
    marker = server.home / STOPPING
    if marker.exists():
        server.stop()
        marker.unlink(missing_ok=True)


@contextlib.contextmanager
def _gate(home: Path, timeout: float = GATE_TIMEOUT) -> Iterator[None]:
    path = home / START_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConfigError(
                        f"another mamfast process has been starting or stopping the private "
                        f"Redis in {home} for over {timeout:.0f}s",
                        hint=f"if it is stuck, find it with `fuser {path}` and stop it",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the flock
