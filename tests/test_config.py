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


# Read by docker-compose.yml (interpolation), not by mamfast.
COMPOSE_ONLY = {"DATA_DIR", "CONFIG_DIR", "TZ", "REDIS_PASSWORD", "WEB_PORT"}


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
    assert settings.seed_folder == tmp_path / "seed"
    assert settings.torrent_folder == tmp_path / "torrents"


EMPTY_KEYS = [
    "MAMFAST_TORRENT_PIECE_LENGTH",
    "MAMFAST_TORRENT_WORKERS",
    "PUID",
    "PGID",
    "UMASK",
    "MAMFAST_NAMING_FILE",
    "MAMFAST_CATEGORIES_FILE",
    "MAMFAST_DESCRIPTION_TEMPLATE",
    "MAMFAST_MKBRR_PRESET_FILE",
    "MAMFAST_REDIS_URL",
    "MAMFAST_DATA_DIR",
    "MAMFAST_QBIT_URL",
    "MAMFAST_ANNOUNCE_URL",
]


def test_env_example_as_shipped_loads(monkeypatch, tmp_path):
    """A new user's second step: `cp .env.example .env`, then any command."""
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    settings = load_settings()
    # Host defaults: no Docker host names; the private Redis, the user's data dir.
    assert settings.redis_url is None
    assert settings.qbit_url is None
    assert str(settings.data_dir).startswith(str(tmp_path))


@pytest.mark.parametrize("key", EMPTY_KEYS)
def test_an_empty_value_means_unset(monkeypatch, tmp_path, key):
    (tmp_path / ".env").write_text(f"{key}=\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    default = load_settings(_env_file=None)
    assert settings.model_dump() == default.model_dump()


@pytest.mark.parametrize("key", EMPTY_KEYS)
def test_an_empty_environment_variable_means_unset(monkeypatch, key):
    monkeypatch.delenv(key, raising=False)
    default = load_settings(_env_file=None).model_dump()
    monkeypatch.setenv(key, "")
    assert load_settings(_env_file=None).model_dump() == default


@pytest.mark.parametrize(
    ("written", "value"),
    [("PUID", "abc"), ("MAMFAST_PUID", "abc"), ("UMASK", "999"), ("MAMFAST_TORRENT_WORKERS", "x")],
)
def test_an_error_names_the_key_the_user_wrote(monkeypatch, tmp_path, written, value):
    (tmp_path / ".env").write_text(f"{written}={value}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"invalid setting: {written}:")
    assert "MAMFAST_MAMFAST" not in message


def test_an_error_names_the_environment_key_too(monkeypatch):
    monkeypatch.setenv("PGID", "users")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert str(info.value).startswith("invalid setting: PGID:")
