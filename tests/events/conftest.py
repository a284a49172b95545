"""Event tests run against SQLite (the default) and a throwaway PostgreSQL (when installed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store.db import Database
from tests.factories import sqlite_url
from tests.pg import PgCluster, pg_cluster  # noqa: F401  (session fixture)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    d = Database(db_url)
    try:
        yield d
    finally:
        d.dispose()
