"""The one place event rows are inserted. Every writer of events must come through here.

Three properties, each for a reader elsewhere:

* **Idempotent** — ``ON CONFLICT (uid) DO NOTHING``: replaying a spool whose rows partly
  reached the database (crash after commit, before the spool was trimmed) adds nothing twice.
* **Ordered across gates (PostgreSQL)** — the live feed tails the table by id. Two gates
  inserting at once could otherwise commit id 11 before id 10, and a reader that saw 11 would
  skip 10 for ever. A transaction-scoped advisory lock taken before the insert makes id order
  equal commit order. (SQLite has one writer at a time, so it is ordered already.)
* **Announced** — on PostgreSQL the same transaction runs ``pg_notify``; NOTIFY is delivered
  only on commit, so a listener never hears of rows it cannot yet read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql, sqlite

from monitor.store.models import Event

CHANNEL = "chamberguard_events"
# An arbitrary constant naming "the event insert lock" (ASCII "cgevents").
ADVISORY_KEY = 0x6367_6576_656E_7473


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]], *, notify: str = "") -> None:
    """Insert event rows (dicts of :class:`Event` columns, ``uid`` set) in the caller's
    transaction; the caller commits."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_KEY})
        stmt: Any = postgresql.insert(Event).on_conflict_do_nothing(index_elements=["uid"])
    elif dialect == "sqlite":
        stmt = sqlite.insert(Event).on_conflict_do_nothing(index_elements=["uid"])
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database {dialect}")
    conn.execute(stmt, list(rows))
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": notify})
