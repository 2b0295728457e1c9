"""Shared test setup."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    # Cached pages are keyed by a data version that a test's rollback restores, and
    # bulk writes in tests send no signals: start every test with an empty cache (issue 5).
    cache.clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every browser test starts Chromium and a live server: seconds each, so `-m "not slow"`
    # (the quick loop) leaves them out wherever they are marked `browser`.
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
