"""Event tests run against SQLite (the default) and a throwaway PostgreSQL (when installed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store.db import Database
from monitor.store.migrate import upgrade
from tests.pg import PgCluster, pg_cluster  # noqa: F401  (session fixture)

_SQLITE_TEMPLATE: Path | None = None


def sqlite_url(tmp: Path) -> str:
    """A migrated SQLite file (copied from one migrated once per session)."""
    global _SQLITE_TEMPLATE
    if _SQLITE_TEMPLATE is None:
        import tempfile

        tpl = Path(tempfile.mkdtemp(prefix="cg-sqlite-")) / "template.db"
        upgrade(f"sqlite:///{tpl}")
        _SQLITE_TEMPLATE = tpl
    dst = tmp / "chamberguard.db"
    shutil.copy(_SQLITE_TEMPLATE, dst)
    return f"sqlite:///{dst}"


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
