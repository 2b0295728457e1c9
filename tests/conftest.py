"""Shared test setup."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    # Cached pages are keyed by a data version that a test's rollback restores, and
    # bulk writes in tests send no signals: start every test with an empty cache (issue 5).
    cache.clear()
