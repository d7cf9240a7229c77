"""How long to wait before trying again: the one backoff rule.

Stage retries (the engine) and Audnex requests (its client) both use it, so both
spread out the same way when a service struggles.
"""

from __future__ import annotations

import random


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: base, 2x base, 4x base... capped, times 0.5-1.0.

    The jitter keeps workers that failed together from retrying together.
    """
    raw: float = min(cap, base * (2 ** max(0, attempt - 1)))
    return raw * random.uniform(0.5, 1.0)
