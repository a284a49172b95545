"""Every migration runs on a database that holds data, on SQLite and PostgreSQL.

Found by the deployment test's upgrade from the previous release: on SQLite a batch migration
copies a table and drops the old one, and with foreign keys on, dropping ``members`` while
``devices`` refer to it failed — only on a database with members, never on an empty one.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from monitor.store.db import Database
from monitor.store.migrate import upgrade
from tests.pg import pg_cluster  # noqa: F401  (session fixture)

# The schema of the release before the installer (b37d39f): what a gateway upgrades from.
PREVIOUS_HEAD = "0007_event_chain_reports"


def test_upgrade_keeps_members_and_devices_sqlite(tmp_path: Path) -> None:
    check(f"sqlite:///{tmp_path / 'old.db'}")


def test_upgrade_keeps_members_and_devices_postgres(pg_cluster) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    check(pg_cluster.new_database(migrated=False))


def check(url: str) -> None:
    upgrade(url, PREVIOUS_HEAD)
    db = Database(url)
    with db.engine.begin() as c:
        c.execute(text("INSERT INTO members (id, name, active, created_at) "
                       "VALUES (7, 'Cllr Upgrade Test', true, CURRENT_TIMESTAMP)"))
        c.execute(text("INSERT INTO devices (id, mac, label, member_id, randomised, created_at) "
                       "VALUES (9, '02:00:5e:10:00:99', 'phone', 7, false, CURRENT_TIMESTAMP)"))
    db.dispose()
    upgrade(url)
    db = Database(url)
    with db.engine.connect() as c:
        rows = c.execute(text("SELECT d.mac, m.name FROM devices d JOIN members m "
                              "ON m.id = d.member_id")).all()
        if url.startswith("sqlite"):
            assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()
    assert [tuple(r) for r in rows] == [("02:00:5e:10:00:99", "Cllr Upgrade Test")]
