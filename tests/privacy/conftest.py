"""Privacy tests run against SQLite and, where installed, a throwaway PostgreSQL."""

from __future__ import annotations

from tests.events.conftest import db, db_url  # noqa: F401  (fixtures)
from tests.hashing import cheap_argon2  # noqa: F401  (session fixture)
from tests.pg import pg_cluster  # noqa: F401  (session fixture)


