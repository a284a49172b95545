"""The check's storage tests run on SQLite and a throwaway PostgreSQL (when installed)."""

from tests.events.conftest import db, db_url  # noqa: F401  (fixtures)
from tests.pg import pg_cluster  # noqa: F401  (session fixture)
