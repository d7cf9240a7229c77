"""The dashboard's token: from MAMFAST_WEB_TOKEN, or generated once and kept in the data dir.

The token allows every action (retry, reset, rescan, mark uploaded) and the .torrent
download (the passkey is inside the file), so it lives only in the setting or in a file
readable by its owner alone, and it is printed once: when it is made.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from mamfast.config import Settings
from mamfast.errors import ConfigError
from mamfast.fs.atomic import write_atomic
from mamfast.fs.owner import file_owner

TOKEN_FILE = "web-token"  # noqa: S105 (a file name, not a secret)
OWNER_ONLY = 0o600
MIN_LENGTH = 16
HINT = (
    "MAMFAST_DATA_DIR must be a folder the user mamfast runs as can read and write "
    "(PUID/PGID in Docker); or set MAMFAST_WEB_TOKEN"
)


@dataclass(frozen=True)
class WebToken:
    value: str
    generated: bool  # made just now: the caller prints it, once
    path: Path | None  # where it is kept (None: from MAMFAST_WEB_TOKEN)


def token_path(settings: Settings) -> Path:
    return settings.data_dir / TOKEN_FILE


def load_or_create(settings: Settings) -> WebToken:
    """The token in force. Blocking (file I/O): call it before the server starts."""
    configured = settings.secret("web_token")
    if configured:
        if len(configured) < MIN_LENGTH:
            raise ConfigError(
                f"MAMFAST_WEB_TOKEN is shorter than {MIN_LENGTH} characters",
                hint="use a long random value (`openssl rand -hex 24`), or leave it empty "
                "and let `mamfast web` make one",
            )
        return WebToken(configured, generated=False, path=None)
    path = token_path(settings)
    kept = _read(path)
    if kept:
        return WebToken(kept, generated=False, path=path)
    try:
        write_atomic(path, secrets.token_urlsafe(32), owner=file_owner(settings), mode=OWNER_ONLY)
    except OSError as exc:
        raise ConfigError(
            f"cannot keep a new dashboard token in {path}: {exc.strerror or exc}", hint=HINT
        ) from None
    # Two dashboards starting at once each write one; both use whichever landed last.
    return WebToken(_read(path), generated=True, path=path)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ConfigError(
            f"cannot read the dashboard token {path}: {exc.strerror or exc}", hint=HINT
        ) from None
