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
* **Chained** — every row gets ``prev_hash``/``hash`` (:mod:`monitor.evidence.chain`), linked
  onto the chain head under the same lock (SQLite: the write lock, taken up front), so all
  writers — gate, sensor, guard — extend one chain.
* **Reduced to the privacy level** — before a row is hashed and written, the columns its
  meeting's privacy level does not keep are emptied (:mod:`monitor.evidence.privacy`): what
  a level forbids never reaches the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import Connection, text

from monitor.evidence import chain, privacy

CHANNEL = "chamberguard_events"
# An arbitrary constant naming "the event insert lock" (ASCII "cgevents").
ADVISORY_KEY = 0x6367_6576_656E_7473

# Row layout shared by the spool and the insert. ``ts`` is UTC text in SQLAlchemy's SQLite
# storage format ("YYYY-MM-DD HH:MM:SS.ffffff"): SQLite stores it as is, PostgreSQL reads it
# "AT TIME ZONE 'UTC'" — one conversion per event, done once, on the writer's thread.
COLUMNS = ("uid", "ts", "kind", "action", "room", "mac", "device_id", "member_id", "meeting_id",
           "domain", "platform", "category", "channels", "rule", "detail")
TS = COLUMNS.index("ts")


def ts_text(ts: datetime) -> str | None:
    """An aware time as UTC storage text; None for a naive one (the database will refuse
    the row, and the writer reports it — a naive time is a bug, not a guess to make)."""
    if ts.tzinfo is None:
        return None
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    return ts.isoformat(" ", "microseconds")[:26]


@cache
def _insert_sql(dialect: str) -> str:
    cols = ", ".join((*COLUMNS, "prev_hash", "hash"))
    if dialect == "postgresql":
        marks = ["%s"] * (len(COLUMNS) + 2)
        marks[TS] = "(%s::timestamp AT TIME ZONE 'UTC')"
    elif dialect == "sqlite":
        marks = ["?"] * (len(COLUMNS) + 2)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database {dialect}")
    return f"INSERT INTO events ({cols}) VALUES ({', '.join(marks)}) ON CONFLICT (uid) DO NOTHING"


def lock(conn: Connection) -> None:
    """Take the event insert lock for this transaction: nobody appends to (or cuts) the
    chain, or changes the privacy level, until it ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_KEY})
    else:
        chain.begin_write(conn)


def insert_events(conn: Connection, rows: Sequence[Sequence[object]], *, notify: str = "",
                  bodies: Sequence[str] | None = None) -> None:
    """Insert event rows (values in :data:`COLUMNS` order, ``uid`` set) in the caller's
    transaction; the caller commits. A plain driver ``executemany``: this is the hot loop of
    the write path, and the rows are already in storage form. ``bodies``: the rows'
    canonical JSON if the caller encoded them already (``chain.encode_rows``)."""
    if not rows:
        return
    dialect = conn.dialect.name
    lock(conn)
    rows, bodies = privacy.apply(conn, rows, bodies)
    chain.insert_chained(conn, _insert_sql(dialect), rows, bodies)
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": notify})
