"""The chaos run's time limit grows with `--releases` (pytest-timeout's default is 300 s)."""

from __future__ import annotations

import pytest

SECONDS_PER_RELEASE = 6


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    releases = config.getoption("--releases")
    limit = max(300, 240 + releases * SECONDS_PER_RELEASE)
    for item in items:
        if item.path.parent.name == "chaos" and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(limit))
