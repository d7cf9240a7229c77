"""URLs safe to print: the one place that decides what of a URL may be shown.

URLs carry secrets in different places: a password in `user:password@`, a
passkey in a tracker's path, a token anywhere in a notification URL, and a
password in the query string (`redis://host/0?password=...`). Every message,
log line, status and report that shows a URL goes through `mask_url`, and text
that may quote one (a child's output, a library's error) through `scrub`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

HIDDEN = "***"

Keep = Literal["scheme", "host", "path"]
_URL_IN_TEXT = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def mask_url(url: str | SecretStr, *, keep: Keep = "host") -> str:
    """`url` with its secrets replaced by `***`.

    keep="scheme": `discord://***` (notification URLs hold tokens anywhere).
    keep="host": `https://tracker.example:8443/***` (a tracker's path is the passkey).
    keep="path": `redis://user:***@host:6379/0?password=***` (a path that says nothing
    secret stays). Always: no password, no query value, no fragment.
    """
    text = url.get_secret_value() if isinstance(url, SecretStr) else url
    try:
        parts = urlsplit(text.strip())
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # e.g. a port that is not a number
        return HIDDEN
    if not parts.scheme:
        return HIDDEN
    if keep == "scheme":
        return f"{parts.scheme}://{HIDDEN}"
    if not parts.hostname and not (keep == "path" and parts.path):
        return HIDDEN
    user = f"{parts.username}:{HIDDEN}@" if parts.username else ""
    if parts.password and not parts.username:
        user = f":{HIDDEN}@"
    netloc = f"{user}{parts.hostname or ''}{port}"
    if keep == "host":
        rest = "/" + HIDDEN if parts.path.strip("/") or parts.query or parts.fragment else ""
        return f"{parts.scheme}://{netloc}{rest}"
    query = "&".join(_masked_pair(pair) for pair in parts.query.split("&") if pair)
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def scrub(text: str, *, secrets: Iterable[str | None] = (), keep: Keep = "host") -> str:
    """Free text from elsewhere (a child's stderr, a library's error) made safe to show:
    each of `secrets` replaced, and every URL in it masked by `mask_url`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, HIDDEN)
    return _URL_IN_TEXT.sub(lambda found: mask_url(found.group(0), keep=keep), text)


def _masked_pair(pair: str) -> str:
    # `name=value` keeps its name (`password=***` says what was hidden); a bare item
    # may itself be the token.
    name, sep, _ = pair.partition("=")
    return f"{name}={HIDDEN}" if sep else HIDDEN
