"""What an ASIN is, in one place.

The ASIN keys everything: Redis keys, job ids, the hidden partial folder's
name, the `{ASIN.X}` token of staged folders. A value that is not an ASIN
(`../../victim`) must therefore never get past the boundaries where a release
enters: discovery, the release model (so Redis records and `state import`),
and command-line arguments. All of them use this module.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# Audible ASIN (B + 9 capital letters/digits) or an ISBN-10 (9 digits + digit or X).
PATTERN = re.compile(r"B[0-9A-Z]{9}|\d{9}[\dX]")
DESCRIPTION = "an ASIN is B + 9 letters/digits (B08G9PRS1K) or an ISBN-10"


def valid_asin(text: str) -> bool:
    return PATTERN.fullmatch(text) is not None


def normalize(text: str) -> str:
    """`text` trimmed and upper-cased if it is an ASIN; ValueError (plain words) if not."""
    value = text.strip().upper()
    if not valid_asin(value):
        raise ValueError(f"{text!r} is not an ASIN ({DESCRIPTION})")
    return value


def _exact(text: str) -> str:
    if not valid_asin(text):
        raise ValueError(f"{text!r} is not an ASIN ({DESCRIPTION})")
    return text


# A model field holding an ASIN exactly as stored (no silent upper-casing: a record
# whose key and ASIN disagree is damaged, not repaired).
Asin = Annotated[str, AfterValidator(_exact)]
