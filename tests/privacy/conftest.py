"""Privacy tests run against SQLite and, where installed, a throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from api.auth import passwords
from tests.events.conftest import db, db_url  # noqa: F401  (fixtures)
from tests.pg import pg_cluster  # noqa: F401  (session fixture)


@pytest.fixture(scope="session", autouse=True)
def cheap_argon2() -> Iterator[None]:
    saved = passwords._hasher, passwords._DUMMY
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    passwords._DUMMY = passwords._hasher.hash("not-a-real-password")
    yield
    passwords._hasher, passwords._DUMMY = saved
