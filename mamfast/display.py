"""Text from outside, made harmless to show on a terminal.

Titles, authors, folder names and the error messages quoting them come from
metadata and file names a stranger wrote. Control characters (an ESC sequence
can clear the screen or set the window title), bidi overrides (U+202E makes
`gnp.exe` read as `exe.png`) and bytes that are not UTF-8 (a Latin-1 folder
name) are shown as escapes (`\\x1b`, `\\u202e`, `\\xe9`) instead of reaching the
terminal. Everything meant to be read stays as it is, including the joiners
that hold emoji and some scripts together.
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_JOINERS = frozenset({"\u200c", "\u200d"})  # zero-width (non-)joiner: part of the text


def printable(text: str) -> str:
    """`text` with every control, format (bidi) and stray-byte character escaped."""
    if text.isprintable():  # the common case, in C
        return text
    return "".join(ch if _harmless(ch) else _escaped(ch) for ch in text)


def _harmless(ch: str) -> bool:
    return ch in _JOINERS or unicodedata.category(ch) not in _UNSAFE_CATEGORIES


def _escaped(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def span(seconds: float) -> str:
    """`42s`, `5m`, `3h`, `2d`: the largest whole unit (the CLI and the dashboard alike)."""
    whole = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def hours(length: timedelta, *, up: bool = False) -> str:
    """`71h 05m`, read against MAM's 72 h; `up` rounds a part minute up (time still owed)."""
    seconds = length.total_seconds()
    minutes = int(-(-seconds // 60) if up else seconds // 60)
    return f"{minutes // 60}h {minutes % 60:02d}m"
