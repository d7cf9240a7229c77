"""The one backoff rule (stage retries and Audnex requests)."""

from __future__ import annotations

import pytest

from mamfast.engine.backoff import backoff


@pytest.mark.parametrize(
    ("attempt", "full"),
    [(0, 2.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 20.0), (40, 20.0)],
)
def test_doubles_from_base_up_to_the_cap_with_jitter(attempt, full):
    waits = [backoff(attempt, base=2.0, cap=20.0) for _ in range(200)]
    assert all(full * 0.5 <= w <= full for w in waits)
    assert len(set(waits)) > 1  # jittered: workers that failed together spread out
