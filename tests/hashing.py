"""One session fixture for the suites that create users: Argon2 at its cheapest.

The production parameters cost ~0.5 s a hash on purpose; a test suite that logs in hundreds
of times needs the same code path, not the same cost. Import it into a conftest to use it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from api.auth import passwords


@pytest.fixture(scope="session", autouse=True)
def cheap_argon2() -> Iterator[None]:
    saved = passwords._hasher, passwords._DUMMY
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    passwords._DUMMY = passwords._hasher.hash("not-a-real-password")
    yield
    passwords._hasher, passwords._DUMMY = saved
