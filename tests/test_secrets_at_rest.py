"""Secrets at rest and in output: .torrent files (they hold the passkey) and printed URLs."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from mamfast.models import Release
from mamfast.redact import mask_url
from mamfast.stages import torrent as torrent_stage
from tests.support.torrent_data import ANNOUNCE, book

PASSKEY = "PASSKEY0123456789"  # inside ANNOUNCE


@pytest.fixture(params=[0o022, 0o002], ids=["umask-022", "umask-002"])
def umask(request) -> Iterator[int]:
    """The usual umask, and UMASK=002 (Unraid's group-writable setup)."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
async def staged(make_services, settings):
    """Services with an announce URL, and a staged release not yet hashed."""
    res = await make_services({}, announce_url=SecretStr(ANNOUNCE))
    folder = book(settings.seed_folder)
    return res, Release(asin="B0TEST0001", staging_dir=str(folder))


async def test_the_torrent_stage_writes_the_torrent_for_owner_and_group_only(staged, umask):
    res, release = staged
    result = await torrent_stage.run(res, release)
    written = Path(result.output.torrent_path)
    assert PASSKEY.encode() in written.read_bytes()
    assert mode(written) == 0o640  # group (PGID) may read it to upload it; others may not


async def test_a_world_readable_torrent_from_before_is_tightened_on_reuse(staged, umask):
    res, release = staged
    first = await torrent_stage.run(res, release)
    written = Path(first.output.torrent_path)
    written.chmod(0o644)  # as older versions wrote it
    again = await torrent_stage.run(res, release.model_copy(update=first.output.changes()))
    assert again.display["torrent"]["backend"] == "reused"
    assert mode(written) == 0o640


def test_torrent_create_writes_owner_and_group_only(cli, tmp_path, monkeypatch, umask):
    monkeypatch.setenv("MAMFAST_ANNOUNCE_URL", ANNOUNCE)
    folder = book(tmp_path)
    out = tmp_path / "out.torrent"
    result = cli("torrent", "create", str(folder), "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o640


@pytest.mark.parametrize(
    ("url", "keep", "shown"),
    [
        ("redis://:hunter2@redis:6379/0", "path", "redis://:***@redis:6379/0"),
        (
            "redis://redis:6379/0?password=hunter2&db=1",
            "path",
            "redis://redis:6379/0?password=***&db=***",
        ),
        (
            "unix:///data/redis.sock?password=hunter2",
            "path",
            "unix:///data/redis.sock?password=***",
        ),
        (
            "http://admin:hunter2@qbit:8080/?token=hunter2",
            "path",
            "http://admin:***@qbit:8080/?token=***",
        ),
        ("https://host/hook?hunter2", "path", "https://host/hook?***"),
        ("https://t.example.net/tracker.php/hunter2/announce", "host", "https://t.example.net/***"),
        ("https://t.example.net/announce?passkey=hunter2", "host", "https://t.example.net/***"),
        ("discord://1234/hunter2", "scheme", "discord://***"),
        ("not a url hunter2", "host", "***"),
    ],
)
def test_one_url_mask_hides_passwords_anywhere(url, keep, shown):
    assert mask_url(url, keep=keep) == shown
    assert "hunter2" not in mask_url(url, keep=keep)


async def test_doctor_hides_a_redis_password_in_the_query_string(settings, redis_server):
    from mamfast.ops.doctor import check_redis

    url = f"{redis_server.url}?password=hunter2"
    check = await check_redis(settings.model_copy(update={"redis_url": SecretStr(url)}))
    assert "hunter2" not in str(check.model_dump())
    assert "password=***" in str(check.model_dump())


def test_qbittorrent_messages_hide_a_password_in_the_query_string():
    from mamfast.clients.qbit import QbitClient

    client = QbitClient("http://admin:hunter2@qbit:8080/?password=hunter2", "admin", None)
    assert client.url == "http://admin:***@qbit:8080/?password=***"


def test_mkbrr_output_hides_passwords_in_urls():
    from mamfast.redact import scrub

    text = scrub("cannot reach https://t.example.net/announce?passkey=hunter2 (timeout)")
    assert "hunter2" not in text and "t.example.net" in text


def test_scrub_hides_given_secrets_and_every_url():
    from mamfast.redact import scrub

    text = scrub(
        "login as admin:s3cret failed at http://admin:s3cret@qbit:8080/api?token=T0K3N",
        secrets=["s3cret", None],
        keep="path",
    )
    assert "s3cret" not in text and "T0K3N" not in text
    assert "qbit:8080/api?token=***" in text


async def test_a_failed_notification_hides_its_url(settings):
    from mamfast.clients.notify import send, test_message

    url = "http://127.0.0.1:9/hook?token=hunter2"
    (result,) = await send(
        settings.model_copy(update={"notify_urls": [SecretStr(url)]}), test_message()
    )
    assert not result.ok and "hunter2" not in result.url


def test_torrent_inspect_hides_the_passkey():
    from mamfast.torrents.metainfo import encode_torrent
    from mamfast.torrents.parse import parse_torrent, summary

    info = b"d6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:" + b"x" * 20 + b"e"
    data = encode_torrent(
        info,
        announce="https://t.example.net/a?passkey=hunter2",
        created_by=None,
        creation_date=None,
    )
    shown = summary(parse_torrent(data))["announce"]
    assert shown == "https://t.example.net/***"
