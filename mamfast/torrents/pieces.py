"""Piece length: mkbrr's automatic table, a cap, or a fixed size.

The table is mkbrr's `DefaultPieceSizeRanges` (internal/trackers/trackers.go):
with it we pick the piece length mkbrr would pick for the same folder, so the
two backends give the same infohash. mkbrr has no MAM rule, so MAM torrents
use this default table, capped at 2^24 unless the cap is raised.
"""

from __future__ import annotations

from mamfast.errors import ConfigError

MIN_EXP = 15  # 32 KiB: the table's smallest entry (BEP 3 asks for >= 16 KiB)
MAX_EXP = 27  # 128 MiB: the largest piece mkbrr (and most clients) accept
DEFAULT_MAX_EXP = 24  # mkbrr's default cap, 16 MiB

_MiB = 1 << 20
_GiB = 1 << 30
# (largest content size, piece exponent); anything larger gets MAX_EXP.
AUTO_TABLE: tuple[tuple[int, int], ...] = (
    (64 * _MiB, 15),
    (128 * _MiB, 16),
    (256 * _MiB, 17),
    (512 * _MiB, 18),
    (1 * _GiB, 19),
    (2 * _GiB, 20),
    (4 * _GiB, 21),
    (8 * _GiB, 22),
    (16 * _GiB, 23),
    (32 * _GiB, 24),
    (64 * _GiB, 25),
    (128 * _GiB, 26),
)


def auto_piece_exp(total_size: int, max_exp: int = DEFAULT_MAX_EXP) -> int:
    """mkbrr's automatic exponent for `total_size` bytes, capped at `max_exp`."""
    check_exp(max_exp, what="maximum piece length")
    size = max(total_size, 1)
    exp = next((e for limit, e in AUTO_TABLE if size <= limit), MAX_EXP)
    return min(exp, max_exp)


def choose_piece_exp(total_size: int, *, fixed: int | None, max_exp: int) -> int:
    """A fixed exponent wins; otherwise the automatic table under the cap."""
    if fixed is not None:
        check_exp(fixed, what="piece length")
        return fixed
    return auto_piece_exp(total_size, max_exp)


def check_exp(exp: int, *, what: str) -> None:
    if not MIN_EXP <= exp <= MAX_EXP:
        raise ConfigError(
            f"{what} 2^{exp} is out of range",
            hint=f"use an exponent from {MIN_EXP} ({human_size(1 << MIN_EXP)}) "
            f"to {MAX_EXP} ({human_size(1 << MAX_EXP)})",
        )


def piece_count(total_size: int, piece_length: int) -> int:
    return -(-total_size // piece_length)


def human_size(n: float) -> str:
    """1536 -> '1.5 KiB'; whole numbers print without decimals (16 MiB)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if size == int(size) else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.0f} GiB" if size == int(size) else f"{size:.1f} GiB"
