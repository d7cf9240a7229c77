"""Settings: one pydantic-settings model, read from `MAMFAST_*` variables and `.env`.

Settings are loaded once per process entry point (CLI command, worker start)
and passed down; nothing here is a module-level singleton. Secrets are
`SecretStr`, so printing a Settings object never shows them, and a
validation failure is reported as one line per bad key without its value.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mamfast.errors import ConfigError

ENV_PREFIX = "MAMFAST_"
DEFAULT_EXTENSIONS = (".m4b", ".mp3", ".m4a", ".jpg", ".jpeg", ".png", ".pdf", ".cue")

CsvList = Annotated[list[str], NoDecode]


def _split_csv(value: Any) -> Any:
    """Lists come from the environment as `a,b,c` (or a JSON list, also accepted)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                return json.loads(text)
            except ValueError:
                raise ValueError(
                    'starts with "[" but is not a JSON list; write a,b,c or ["a", "b", "c"]'
                ) from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def default_data_dir() -> Path:
    # Imported here: a data folder set in the environment needs no platform lookup.
    import platformdirs

    return Path(platformdirs.user_data_dir("mamfast", appauthor=False))


class Settings(BaseSettings):
    """Every key is documented in `.env.example` (a test keeps the two in step)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # `KEY=` in `.env` (as `.env.example` ships) or an empty variable from compose's
        # env_file means "not set", never an empty path or an unparsable integer.
        env_ignore_empty=True,
        validate_default=True,
        populate_by_name=True,
    )

    # --- where things live -------------------------------------------------
    redis_url: SecretStr | None = Field(
        default=None,
        description="redis://host:port/db or unix:///path.sock; unset = private Redis for `run`",
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    library_dir: Path | None = None
    seed_dir: Path | None = None
    torrent_dir: Path | None = None

    # --- torrent -----------------------------------------------------------
    announce_url: SecretStr | None = None
    torrent_source: str = "MAM"
    torrent_backend: Literal["builtin", "mkbrr"] = "builtin"
    torrent_piece_length: int | None = Field(default=None, ge=15, le=27)
    torrent_max_piece_length: int = Field(default=24, ge=15, le=27)
    torrent_workers: int | None = Field(default=None, ge=1, le=64)
    mkbrr_cmd: str = "mkbrr"
    mkbrr_preset: str = "mam"
    mkbrr_preset_file: Path | None = None
    mkbrr_path_map: str = ""
    mkbrr_timeout: float = Field(default=900.0, gt=0)

    # --- naming and staging ------------------------------------------------
    ripper_tag: str = ""
    naming_file: Path | None = None
    path_limit: int = Field(default=225, ge=80, le=1024)
    scan_depth: int = Field(default=3, ge=1, le=10)
    settle_seconds: float = Field(default=120.0, ge=0)
    allowed_extensions: CsvList = Field(default_factory=lambda: list(DEFAULT_EXTENSIONS))
    stage_copy_fallback: bool = False
    puid: int | None = Field(default=None, validation_alias=AliasChoices("MAMFAST_PUID", "PUID"))
    pgid: int | None = Field(default=None, validation_alias=AliasChoices("MAMFAST_PGID", "PGID"))
    umask: str | None = Field(default=None, validation_alias=AliasChoices("MAMFAST_UMASK", "UMASK"))

    # --- title convention --------------------------------------------------
    # "series": "Sword Art Online 7" is the title, "Mother's Rosary" the subtitle (the
    # upstream tool's convention); "book_title": the book's own name is the title.
    title_convention: Literal["series", "book_title"] = "series"

    # --- metadata ----------------------------------------------------------
    audnex_url: str = "https://api.audnex.us"
    audnex_regions: CsvList = Field(default_factory=lambda: ["us"])
    audnex_required: bool = False
    audnex_rate_per_minute: int = Field(default=60, ge=1, le=100)
    audnex_timeout: float = Field(default=20.0, gt=0)
    audnex_cache_ttl: int = Field(default=7 * 24 * 3600, ge=0)
    mediainfo_cmd: str | None = None
    mediainfo_timeout: float = Field(default=60.0, gt=0)
    categories_file: Path | None = None
    description_template: Path | None = None
    description_signature: bool = True
    description_signature_text: str = ""  # "" = the default words
    audiobook_categories_file: Path | None = None

    # --- qBittorrent -------------------------------------------------------
    qbit_url: str | None = None
    qbit_username: str = "admin"
    qbit_password: SecretStr | None = None
    qbit_category: str = "mamfast"
    qbit_tags: CsvList = Field(default_factory=lambda: ["mamfast"])
    qbit_paused: bool = False
    qbit_skip_checking: bool = True
    qbit_path_map: str = ""
    qbit_seed_timeout: float = Field(default=60.0, gt=0)

    # --- engine ------------------------------------------------------------
    max_attempts: int = Field(default=5, ge=1, le=100)
    retry_base_seconds: float = Field(default=10.0, gt=0)
    retry_max_seconds: float = Field(default=900.0, gt=0)
    lock_ttl: float = Field(default=20.0, ge=2)
    reconcile_seconds: int = Field(default=10, ge=1, le=60)
    stage_timeout: float = Field(default=900.0, gt=0)
    hash_timeout: float = Field(default=6 * 3600.0, gt=0)
    worker_jobs: int = Field(default=4, ge=1, le=64)
    # Two at once: a tiny release waits for no poll gap behind another; big ones share the cores.
    hash_jobs: int = Field(default=2, ge=1, le=16)

    # --- scheduling and notifications ---------------------------------------
    scan_interval_minutes: float = Field(default=15.0, gt=0)
    notify_urls: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    notify_events: CsvList = Field(default_factory=lambda: ["ready", "complete", "needs_attention"])
    log_level: str = "INFO"

    # --- Libation before each scan -------------------------------------------
    # A command (no shell: split like a shell line) run before scheduled scans and before
    # `mamfast run`'s scan, e.g. Libation's scan and download; empty = none.
    libation_command: str = ""
    libation_timeout: float = Field(default=3600.0, gt=0)

    # --- web dashboard (`mamfast web`) ---------------------------------------
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=1, le=65535)
    # Unset: one is generated, printed once and kept in the data dir (owner-only).
    web_token: SecretStr | None = None

    _split = field_validator(
        "allowed_extensions",
        "audnex_regions",
        "qbit_tags",
        "notify_events",
        "notify_urls",
        mode="before",
    )(_split_csv)

    @field_validator("allowed_extensions")
    @classmethod
    def _dotted_lowercase(cls, value: list[str]) -> list[str]:
        return [v.lower() if v.startswith(".") else f".{v.lower()}" for v in value]

    @field_validator("umask")
    @classmethod
    def _octal_umask(cls, value: str | None) -> str | None:
        if value is not None:
            int(value, 8)  # raises ValueError -> reported against UMASK
        return value

    @field_validator("announce_url")
    @classmethod
    def _http_announce(cls, value: SecretStr | None) -> SecretStr | None:
        # A typo here gives torrents that never reach the tracker; the value is a secret,
        # so the message never shows it.
        if value is None or not value.get_secret_value().strip():
            return None
        if urlsplit(value.get_secret_value().strip()).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL: your MAM announce URL, passkey included")
        return value

    @field_validator("notify_events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        known = {"ready", "complete", "needs_attention"}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown event(s) {sorted(unknown)}; use {sorted(known)}")
        return value

    @model_validator(mode="after")
    def _derive_dirs(self) -> Settings:
        # Seed and torrent folders default to the data dir so a first run needs no setup.
        if self.seed_dir is None:
            self.seed_dir = self.data_dir / "seed"
        if self.torrent_dir is None:
            self.torrent_dir = self.data_dir / "torrents"
        return self

    @model_validator(mode="after")
    def _outside_library(self) -> Settings:
        # The library is read-only input: folders mamfast writes (and cleans) must not
        # be the library or lie inside it.
        if self.library_dir is None:
            return self
        library = self.library_dir.resolve()
        for name, folder in (("seed_dir", self.seed_folder), ("torrent_dir", self.torrent_folder)):
            if folder.resolve().is_relative_to(library):
                raise ValueError(
                    f"{env_name(name)} ({folder}) is the library or inside the library "
                    f"({self.library_dir}); mamfast never writes there: choose a folder "
                    "outside MAMFAST_LIBRARY_DIR"
                )
        return self

    # Typed accessors: the validator above guarantees these are set. Folders, named so
    # (a release's `torrent_path` is a file).
    @property
    def seed_folder(self) -> Path:
        assert self.seed_dir is not None
        return self.seed_dir

    @property
    def torrent_folder(self) -> Path:
        assert self.torrent_dir is not None
        return self.torrent_dir

    def secret(self, name: str) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else value


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Load settings or raise ConfigError with one line per bad key (values never shown)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        written = _names_written(overrides.get("_env_file", ".env"))
        raise ConfigError(_describe(exc, written)) from None


def _describe(exc: ValidationError, written: set[str]) -> str:
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        if not err["loc"]:  # a check across settings names them itself
            lines.append(err["msg"].removeprefix("Value error, "))
            continue
        where = str(err["loc"][0])
        lines.append(f"{_name_for(where, written)}: {err['msg']}")
    return "invalid setting: " + "; ".join(lines)


def _field_names(field: str) -> list[str]:
    """The environment names of one field, in pydantic's order of preference."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [env_name(field)]


def _name_for(where: str, written: set[str]) -> str:
    """The key the user wrote for an error location (a field name or one of its aliases):
    `PUID=abc` is reported as PUID, not as the alias pydantic happened to report."""
    for field in Settings.model_fields:
        names = _field_names(field)
        if where == field or where in names:
            return next((n for n in names if n.upper() in written), names[0])
    return where


def _names_written(env_file: Any) -> set[str]:
    """Upper-cased names set in the environment or the `.env` file (names only)."""
    names = {key.upper() for key in os.environ}
    if env_file:
        from dotenv import dotenv_values

        with contextlib.suppress(OSError, UnicodeDecodeError):
            names.update(key.upper() for key in dotenv_values(env_file))
    return names


def settings_env_names() -> set[str]:
    """Every environment name a user may set (for `.env.example` checks and docs)."""
    return {name for field in Settings.model_fields for name in _field_names(field)}
