"""Whether a file or folder name is portable: valid on every system MAM users seed from.

pathvalidate's "universal" rules (Windows, macOS, Linux): no reserved characters
or device names (`CON`, `NUL`...), no control characters, no trailing dot or
space, and at most `max_bytes` bytes of UTF-8.
"""

from __future__ import annotations

from collections.abc import Iterable

import pathvalidate


def check_portable(names: Iterable[str], *, max_bytes: int) -> None:
    """Raise ValueError for the first name that is not portable.

    Naming sanitises every component before it builds a name, so this fires only on
    a bug; it stops a bad name before it reaches the disk or a torrent.
    """
    for name in names:
        try:
            pathvalidate.validate_filename(name, platform="universal", max_len=max_bytes)
        except pathvalidate.ValidationError as exc:
            raise ValueError(f"bug: unportable name {name!r} ({exc.reason.name})") from None
