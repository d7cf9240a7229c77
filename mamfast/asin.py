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

# How a name carries an ASIN: `{ASIN.X}` (Libation, and mamfast's staged folders),
# `[ASIN.X]`, or a bare `[X]` of ASIN length. A token's value may still be invalid:
# the reader says which one it found and why it is not an ASIN.
NAME_TOKEN = re.compile(r"\{ASIN\.([^{}\s]+)\}|\[ASIN\.([^\[\]\s]+)\]|\[([A-Za-z0-9]{10})\]")
# Only the form mamfast writes: `[BESTSELLER]` in someone's download is not a token of ours.
STAGED_TOKEN = re.compile(r"\{ASIN\.([0-9A-Z]{10})\}")


def valid_asin(text: str) -> bool:
    return PATTERN.fullmatch(text) is not None


def token_value(match: re.Match[str]) -> str:
    """The value of a NAME_TOKEN match, upper-cased (not yet validated)."""
    return next(g for g in match.groups() if g).upper()


def in_name(name: str) -> str | None:
    """The first valid ASIN a name carries as a token, or None."""
    for match in NAME_TOKEN.finditer(name):
        value = token_value(match)
        if valid_asin(value):
            return value
    return None


def staged_token(asin: str) -> str:
    """The token mamfast puts in the names it makes: `{ASIN.B08G9PRS1K}`."""
    return "{ASIN." + asin + "}"


def in_staged_name(name: str) -> str | None:
    """The ASIN in a name mamfast made (its last `{ASIN.X}` token), or None."""
    found = STAGED_TOKEN.findall(name)
    return found[-1] if found and valid_asin(found[-1]) else None


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
