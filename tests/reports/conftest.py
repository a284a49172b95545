"""Fixtures for the report tests: the golden meeting on SQLite (a fresh file per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from api.auth import passwords
from tests.reports.seed import Golden, seed_golden


@pytest.fixture(scope="session", autouse=True)
def cheap_argon2() -> Iterator[None]:
    saved = passwords._hasher, passwords._DUMMY
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    passwords._DUMMY = passwords._hasher.hash("not-a-real-password")
    yield
    passwords._hasher, passwords._DUMMY = saved


@pytest.fixture
def golden(tmp_path: Path) -> Iterator[Golden]:
    g = seed_golden(tmp_path)
    yield g
    g.db.dispose()
