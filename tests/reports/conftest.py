"""Fixtures for the report tests: the golden meeting on SQLite (a fresh file per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hashing import cheap_argon2  # noqa: F401  (session fixture)
from tests.reports.seed import Golden, seed_golden


@pytest.fixture
def golden(tmp_path: Path) -> Iterator[Golden]:
    g = seed_golden(tmp_path)
    yield g
    g.db.dispose()
