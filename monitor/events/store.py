"""One-off records stored at once, for a process that has no writer."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from monitor.events.record import EventRecord
from monitor.evidence.sink import insert_events
from monitor.store.db import Database


def store_now(db: Database, recs: Sequence[EventRecord]) -> None:
    """Insert records at once, through the sink (ordered, NOTIFYing, with uids), for one-off
    records from a process that has no writer (e.g. the guard's outage row). Synchronous:
    never call it from the DNS hot path."""
    boot = secrets.token_hex(8)
    rows = [r.wire(f"{boot}-{i}") for i, r in enumerate(recs, 1)]
    with db.engine.begin() as conn:
        insert_events(conn, rows, notify=recs[0].room or "" if recs else "")
