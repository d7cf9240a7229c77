"""`mamfast config import`: the old tool's config.yaml + .env (+ mkbrr presets) as settings."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamfast.cli.app import app
from mamfast.config import Settings
from mamfast.ops.configimport import env_quote

FIXTURES = Path(__file__).parent / "fixtures" / "upstream"
PASSWORD = "s3cr'et$HOME\\x#1"
PASSKEY = "0123456789abcdefPASSKEY"


@pytest.fixture
def old_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The old tool's layout: config/config.yaml with config/.env beside it."""
    config = tmp_path / "old" / "config"
    config.mkdir(parents=True)
    shutil.copy(FIXTURES / "config.yaml", config / "config.yaml")
    shutil.copy(FIXTURES / "upstream.env", config / ".env")  # a .env is git-ignored
    shutil.copy(FIXTURES / "presets.yaml", tmp_path / "presets.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    return config / "config.yaml"


def run(*argv: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["config", "import", *argv])


def test_the_old_setup_imports_into_working_settings(old_setup: Path, tmp_path: Path):
    result = run(str(old_setup), "--presets", str(tmp_path / "presets.yaml"))
    assert result.exit_code == 0, result.output
    out = tmp_path / ".env"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the password
    # Secrets are written, never shown.
    assert PASSWORD not in result.output and PASSKEY not in result.output
    assert "MAMFAST_QBIT_PASSWORD=<secret, written to the file>" in result.output

    settings = Settings(_env_file=out)  # type: ignore[call-arg]
    assert settings.library_dir == Path("/mnt/user/data/audio/audiobooks")
    assert settings.seed_dir == Path(
        "/mnt/user/data/downloads/torrents/qbittorrent/seedvault/audiobooks"
    )
    assert settings.torrent_dir == Path("/mnt/user/data/downloads/torrents/torrentfiles")
    assert settings.ripper_tag == "H2OKing"
    assert settings.path_limit == 225
    assert settings.allowed_extensions == [".m4b", ".jpg", ".jpeg", ".png", ".pdf", ".cue"]
    assert settings.description_signature is False
    assert settings.qbit_url == "http://127.0.0.1:8080"
    assert settings.qbit_username == "admin"
    assert settings.secret("qbit_password") == PASSWORD
    assert settings.qbit_category == "upload.audiobooks"
    assert settings.qbit_tags == ["shelfr", "auto-upload"]
    assert settings.qbit_paused is False
    # save_path is the seed folder as qBittorrent sees it.
    assert settings.qbit_path_map == (
        "/mnt/user/data/downloads/torrents/qbittorrent/seedvault/audiobooks:"
        "/data/downloads/torrents/qbittorrent/seedvault/audiobooks"
    )
    assert settings.audnex_regions == ["us", "uk"]
    assert settings.audnex_timeout == 30
    assert (settings.puid, settings.pgid) == (99, 100)
    assert settings.log_level == "DEBUG"
    assert settings.secret("announce_url") == (
        f"https://t.myanonamouse.net/tracker.php/{PASSKEY}/announce"
    )
    assert settings.torrent_source == "MAM"
    assert settings.libation_command.startswith("/usr/bin/docker exec Libation sh -c ")
    assert settings.libation_timeout == 600 + 14400

    text = " ".join(result.output.split())
    # What could not be carried, by name only (the ABS token's value never shows).
    assert "AUDIOBOOKSHELF_API_KEY (from .env): no mamfast equivalent" in text
    assert "abs-token-not-real" not in text
    assert "audnex.preferred_asin_region" in text
    assert "mamfast state import" in text and "old/data/processed.json" in text
    # Defaults that differ are listed even when the file sets the value.
    assert "qBittorrent hash check" in text and "MAMFAST_QBIT_SKIP_CHECKING" in text


def test_defaults_that_differ_are_written_and_listed(tmp_path: Path, monkeypatch):
    """A minimal config: the old tool's defaults are what the user had, so they are kept."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    config = tmp_path / "config.yaml"
    config.write_text(
        "paths:\n  library_root: /srv/library\n  seed_root: /srv/seed\n"
        "  torrent_output: /srv/torrents\n"
    )
    result = run(str(config), "--output", str(tmp_path / "mamfast.env"))
    assert result.exit_code == 0, result.output
    settings = Settings(_env_file=tmp_path / "mamfast.env")  # type: ignore[call-arg]
    assert settings.qbit_category == "mam-audiobooks"
    assert settings.qbit_tags == ["shelfr"]
    assert ".mp3" not in settings.allowed_extensions
    assert settings.puid is None  # never guessed: a wrong owner stops every release
    text = " ".join(result.output.split())
    for difference in ("qBittorrent category", "file ownership", "hash check", "staged extensions"):
        assert difference in text
    assert "announce URL: no mkbrr presets.yaml found" in text
    # Its state file is where the old tool keeps it by default.
    assert "state import" in text and "shelfr/processed.json" in text


def test_an_existing_file_is_never_replaced_without_force(old_setup: Path, tmp_path: Path):
    out = tmp_path / ".env"
    out.write_text("MAMFAST_RIPPER_TAG=Mine\n")
    result = run(str(old_setup))
    assert result.exit_code == 2
    assert "already exists" in result.output and "--force" in result.output
    assert out.read_text() == "MAMFAST_RIPPER_TAG=Mine\n"
    result = run(str(old_setup), "--force")
    assert result.exit_code == 0, result.output
    assert "MAMFAST_RIPPER_TAG='H2OKing'" in out.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".env.")]  # no temp left


def test_a_broken_yaml_is_one_line_saying_what_to_do(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "config.yaml"
    bad.write_text("paths: [unclosed\n")
    result = run(str(bad))
    assert result.exit_code == 2
    assert "is not valid YAML" in result.output and "Traceback" not in result.output
    wrong = tmp_path / "typed.yaml"
    wrong.write_text("mam:\n  max_filename_length: long\n")
    result = run(str(wrong))
    assert result.exit_code == 2
    assert "mam.max_filename_length" in " ".join(result.output.split())
    assert not (tmp_path / ".env").exists()


@pytest.mark.parametrize("value", ["plain", "it's", "back\\slash", "$HOME $X", "a#b c", "x\ny"])
def test_values_read_back_unchanged(tmp_path: Path, value: str):
    from dotenv import dotenv_values

    env = tmp_path / "e.env"
    env.write_text(f"K={env_quote(value)}\n")
    assert dotenv_values(env)["K"] == value


def test_a_value_a_dotenv_file_cannot_hold_is_left_out_and_said(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    config = tmp_path / "config.yaml"
    config.write_text("naming:\n  ripper_tag: tag\n")
    env = tmp_path / "old.env"
    env.write_text("QB_HOST=http://127.0.0.1:8080\nQB_PASSWORD='pa${ss}word'\n")
    result = run(str(config), "--env", str(env))
    assert result.exit_code == 0, result.output
    assert "MAMFAST_QBIT_PASSWORD" not in (tmp_path / ".env").read_text()
    text = " ".join(result.output.split())
    assert "MAMFAST_QBIT_PASSWORD: its value contains `${`" in text
    assert "pa${ss}word" not in text


def test_relative_paths_are_the_old_projects_and_said(tmp_path: Path, monkeypatch):
    """The old tool resolves relative paths against its project folder (config/..)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    config = tmp_path / "old" / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("paths:\n  library_root: books\n  seed_root: /srv/seed\n")
    result = run(str(config))
    assert result.exit_code == 0, result.output
    settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    assert settings.library_dir == tmp_path / "old" / "books"
    assert "paths.library_root (books) is relative" in " ".join(result.output.split())
    assert "paths.torrent_output: not set" in " ".join(result.output.split())


def test_save_path_is_not_mapped_when_qbittorrent_chose_the_folder(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    config = tmp_path / "config.yaml"
    config.write_text(
        "paths:\n  seed_root: /mnt/user/data/seed\n"
        "qbittorrent:\n  auto_tmm: true\n  save_path: /data/stale\n"
    )
    result = run(str(config))
    assert result.exit_code == 0, result.output
    assert Settings(_env_file=tmp_path / ".env").qbit_path_map == ""  # type: ignore[call-arg]
    text = " ".join(result.output.split())
    assert "qbittorrent.auto_tmm" in text and "MAMFAST_QBIT_PATH_MAP" in text


def test_settings_that_would_not_load_are_said(tmp_path: Path, monkeypatch):
    """A seed folder inside the library is refused by every command: say so at import."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    config = tmp_path / "config.yaml"
    config.write_text("paths:\n  library_root: /srv/data\n  seed_root: /srv/data/seed\n")
    result = run(str(config))
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "was written, but mamfast cannot load it yet" in text
    assert "MAMFAST_SEED_DIR" in text and "inside the library" in text
    assert (tmp_path / ".env").exists()


def test_the_announce_url_may_come_from_mkbrrs_default_block(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    config = tmp_path / "config.yaml"
    config.write_text("naming:\n  ripper_tag: t\n")
    presets = tmp_path / "presets.yaml"
    presets.write_text(
        "default:\n  trackers:\n    - https://t.myanonamouse.net/tracker.php/PK0123456789/announce\n"
        "presets:\n  mam:\n    source: MAM\n"
    )
    result = run(str(config), "--presets", str(presets))
    assert result.exit_code == 0, result.output
    settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    assert (
        settings.secret("announce_url")
        == "https://t.myanonamouse.net/tracker.php/PK0123456789/announce"
    )
    assert "PK0123456789" not in result.output
