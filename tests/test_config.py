"""Settings: names, validation messages, secrets, and `.env.example` in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mamfast.config import load_settings, settings_env_names
from mamfast.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def example_keys() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.M))


COMPOSE_ONLY = {"DATA_DIR", "CONFIG_DIR", "TZ"}  # docker-compose.yml interpolation


def test_env_example_lists_every_setting_and_nothing_else():
    names = settings_env_names()
    documented = example_keys() - COMPOSE_ONLY
    # PUID/PGID/UMASK are also accepted with the MAMFAST_ prefix; the short form is documented.
    aliases = {f"MAMFAST_{n}" for n in ("PUID", "PGID", "UMASK")}
    assert documented - names == set()
    assert names - aliases - documented == set()


def test_invalid_setting_names_the_key_in_one_line(monkeypatch):
    monkeypatch.setenv("MAMFAST_MAX_ATTEMPTS", "lots")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    message = str(info.value)
    assert "MAMFAST_MAX_ATTEMPTS" in message and "\n" not in message
    assert "lots" not in message  # values are never echoed (they may be secrets)


@pytest.mark.parametrize("value", ["PASSKEY123", "ftp://t.example/PASSKEY123/announce"])
def test_an_announce_url_that_is_not_one_is_refused_without_echoing_it(monkeypatch, value):
    # Else every torrent would carry it and never reach the tracker.
    monkeypatch.setenv("MAMFAST_ANNOUNCE_URL", value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert "MAMFAST_ANNOUNCE_URL" in str(info.value) and "http" in str(info.value)
    assert "PASSKEY123" not in str(info.value)


def test_a_list_that_starts_like_json_but_is_not_says_how_to_write_it(monkeypatch):
    monkeypatch.setenv("MAMFAST_ALLOWED_EXTENSIONS", '[".m4b", ".jpg"')
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert "MAMFAST_ALLOWED_EXTENSIONS" in str(info.value)
    assert "not a JSON list" in str(info.value) and "a,b,c" in str(info.value)


def test_secrets_never_print(monkeypatch):
    monkeypatch.setenv("MAMFAST_ANNOUNCE_URL", "https://t.example/tracker.php/PASSKEY123/announce")
    monkeypatch.setenv("MAMFAST_QBIT_PASSWORD", "hunter2")
    settings = load_settings(_env_file=None)
    assert "PASSKEY123" not in repr(settings) and "hunter2" not in repr(settings)
    assert settings.secret("qbit_password") == "hunter2"


def test_lists_and_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("MAMFAST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MAMFAST_AUDNEX_REGIONS", "uk, us")
    monkeypatch.setenv("MAMFAST_ALLOWED_EXTENSIONS", "M4B,jpg")
    monkeypatch.setenv("PUID", "99")
    settings = load_settings(_env_file=None)
    assert settings.audnex_regions == ["uk", "us"]
    assert settings.allowed_extensions == [".m4b", ".jpg"]
    assert settings.puid == 99
    assert settings.seed_path == tmp_path / "seed"
    assert settings.torrent_path == tmp_path / "torrents"
