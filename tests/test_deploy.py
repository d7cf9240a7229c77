"""Deployment files, checked without a Docker engine: compose, Dockerfile, entry point."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mamfast.cli.app import app
from mamfast.config import settings_env_names
from tests.test_config import COMPOSE_ONLY

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
MAMFAST_SERVICES = ["worker", "hasher", "scheduler"]


def test_compose_has_the_roles_and_safe_redis():
    assert {"redis", "worker", "hasher", "scheduler", "qbittorrent"} <= set(SERVICES)
    redis = SERVICES["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--appendfsync always" in command
    assert "--maxmemory-policy noeviction" in command
    assert redis["healthcheck"]["test"] == ["CMD-SHELL", "redis-cli ping | grep -q PONG"]
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert SERVICES["qbittorrent"]["profiles"] == ["qbittorrent"]
    assert all(p.startswith("127.0.0.1:") for p in SERVICES["qbittorrent"]["ports"])
    published = [name for name, s in SERVICES.items() if s.get("ports") and name != "qbittorrent"]
    assert published == ["web"]


def test_the_dashboard_is_published_on_the_hosts_loopback_only():
    web = SERVICES["web"]
    assert web["command"] == ["mamfast", "web", "--host", "0.0.0.0"]
    assert web["ports"] == ["127.0.0.1:${WEB_PORT:-8081}:8080"]  # qBittorrent has 8080
    assert sorted(web["networks"]) == ["default", "redis"]
    assert "--host" in CliRunner().invoke(app, ["web", "--help"]).output


def test_redis_needs_the_password_from_env_and_keeps_it_off_command_lines():
    required = "${REDIS_PASSWORD:?"
    redis = SERVICES["redis"]
    assert redis["environment"]["REDISCLI_AUTH"].startswith(required)  # what redis-cli reads
    script = redis["command"][-1]
    assert 'requirepass "$$REDISCLI_AUTH"' in script and script.startswith("exec redis-server -")
    assert required not in script  # the value itself is never on a command line
    for name in MAMFAST_SERVICES:
        url = SERVICES[name]["environment"]["MAMFAST_REDIS_URL"]
        assert url.startswith(f"redis://:{required}") and url.endswith("@redis:6379/0")


def test_redis_is_on_an_internal_network_only_mamfast_joins():
    assert COMPOSE["networks"]["redis"] == {"internal": True}
    assert SERVICES["redis"]["networks"] == ["redis"]
    for name in MAMFAST_SERVICES:
        assert sorted(SERVICES[name]["networks"]) == ["default", "redis"]
    assert "networks" not in SERVICES["qbittorrent"]  # the default network only


def test_images_can_be_overridden_and_default_to_the_public_ones():
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert base and re.search(r"^FROM \$\{BASE_IMAGE\}$", (ROOT / "Dockerfile").read_text(), re.M)
    for name in MAMFAST_SERVICES:
        arg = SERVICES[name]["build"]["args"]["BASE_IMAGE"]
        assert arg == f"${{MAMFAST_BASE_IMAGE:-{base.group(1)}}}"
    assert SERVICES["redis"]["image"] == "${MAMFAST_REDIS_IMAGE:-redis:7.2-alpine}"


@pytest.mark.parametrize("name", MAMFAST_SERVICES)
def test_mamfast_services_share_one_data_mount_and_wait_for_redis(name):
    service = SERVICES[name]
    assert service["restart"] == "unless-stopped"
    assert service["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert service["env_file"] == ".env"
    data = [v for v in service["volumes"] if v.endswith(":/data")]
    assert data == [v for v in SERVICES["qbittorrent"]["volumes"] if v.endswith(":/data")]
    assert "container_name" not in service and "ports" not in service  # --scale works


@pytest.mark.parametrize("name", MAMFAST_SERVICES)
def test_every_service_command_exists(name):
    command = SERVICES[name]["command"]
    assert command[0] == "mamfast"
    result = CliRunner().invoke(app, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["worker", "hasher"])
def test_worker_healthchecks_are_mamfast_health(name):
    check = SERVICES[name]["healthcheck"]
    assert check["test"][:3] == ["CMD", "mamfast", "health"]
    result = CliRunner().invoke(app, [*check["test"][2:], "--help"])
    assert result.exit_code == 0, result.output


def test_compose_environment_keys_are_settings():
    known = settings_env_names() | COMPOSE_ONLY | {"PUID", "PGID", "UMASK"}
    for name in MAMFAST_SERVICES:
        assert set(SERVICES[name]["environment"]) <= known


def test_dockerfile_pins_dependencies_and_uses_the_entry_point():
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.lock" in text
    assert "mediainfo" in text
    lock = (ROOT / "requirements.lock").read_text().split()
    assert lock and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[^=]+", line) for line in lock)
    entry = re.search(r'ENTRYPOINT \["/usr/bin/tini", "--", "([^"]+)"\]', text)
    assert entry and "COPY docker/entrypoint.sh " + entry.group(1) in text
    cmd = re.search(r"CMD (\[.*\])", text)
    assert cmd is not None
    args = yaml.safe_load(cmd.group(1))
    assert CliRunner().invoke(app, [*args[1:], "--help"]).exit_code == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_entrypoint_drops_root_to_puid_pgid_with_umask(tmp_path):
    env = {
        **os.environ,
        "PUID": "65534",
        "PGID": "65534",
        "UMASK": "027",
        "MAMFAST_DATA_DIR": str(tmp_path / "config"),
    }
    out = subprocess.run(
        [str(ROOT / "docker" / "entrypoint.sh"), "sh", "-c", "id -u; id -g; umask; echo $HOME"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["65534", "65534", "0027", str(tmp_path / "config")]
    assert (tmp_path / "config").stat().st_uid == 65534


def test_env_example_is_valid_shell_assignments():
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", key)
            shlex.split(value)  # parses as docker compose / shell would


def web_healthcheck() -> list[str]:
    check = SERVICES["web"]["healthcheck"]
    assert check["test"][:3] == ["CMD", "python", "-c"]  # the image has no curl
    assert "/healthz" in check["test"][3] and "127.0.0.1" in check["test"][3]
    return [str(part) for part in check["test"][1:]]


async def run_check(command: list[str], port: int) -> int:
    """The compose healthcheck, as Docker runs it in the container (python from PATH)."""
    import asyncio
    import sys

    env = {**os.environ, "MAMFAST_WEB_PORT": str(port), "HTTP_PROXY": "http://127.0.0.1:9"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], env=env, stderr=subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), 30)


async def test_the_dashboards_healthcheck_passes_while_it_serves_and_fails_without_redis(
    tmp_path, redis_server, redis
):
    import asyncio

    from arq.connections import ArqRedis
    from pydantic import SecretStr

    from mamfast.engine.engine import Engine
    from mamfast.ops.embedded import free_port
    from mamfast.web.serve import serve
    from tests.conftest import make_settings

    command = web_healthcheck()
    port = free_port()
    settings = make_settings(tmp_path, redis_server.url, web_port=port)
    stop, ready = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(
        serve(Engine(settings, redis, {}), "t" * 32, stop=stop, on_ready=lambda *_: ready.set())
    )
    await asyncio.wait_for(ready.wait(), 10)
    try:
        assert await run_check(command, port) == 0
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)
    assert await run_check(command, port) != 0  # nothing listens any more

    url = "redis://:hunter2@127.0.0.1:9/0"  # a Redis that does not answer
    dead = ArqRedis.from_url(url)
    gone = settings.model_copy(update={"redis_url": SecretStr(url)})
    stop = asyncio.Event()
    ready.clear()
    server = asyncio.create_task(
        serve(Engine(gone, dead, {}), "t" * 32, stop=stop, on_ready=lambda *_: ready.set())
    )
    await asyncio.wait_for(ready.wait(), 10)
    try:
        assert await run_check(command, port) != 0
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)
        await dead.aclose()
