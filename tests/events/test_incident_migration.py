"""Issue #18: outage events from before the incidents table are carried over once, so a
report on a past meeting keeps its uptime after the upgrade."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from monitor.events import EventAction, EventKind, EventRecord, store_now
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import Incident
from tests.pg import pg_cluster  # noqa: F401  (session fixture)


def at(h: int, m: int) -> datetime:
    return datetime(2026, 1, 14, h, m, tzinfo=UTC)


def test_old_outage_events_become_incidents(tmp_path: Path) -> None:
    check(f"sqlite:///{tmp_path / 'old.db'}")


def test_old_outage_events_become_incidents_postgres(pg_cluster) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    check(pg_cluster.new_database(migrated=False))


def check(url: str) -> None:
    upgrade(url, "0011_h20_device_keys")
    db = Database(url)

    def outage(ts: datetime, detail: str) -> EventRecord:
        return EventRecord(ts, EventKind.OUTAGE, EventAction.OBSERVED, room="chamber",
                           detail=detail)

    store_now(db, [
        outage(at(19, 0), "gate worker exited unexpectedly (status 1); the chamber failed open"),
        outage(at(19, 5), f"gate was down from {at(18, 59).isoformat()} to "
                          f"{at(19, 5).isoformat()}"),
        outage(at(20, 0), "gate service stopped; the chamber failed open"),
        outage(at(20, 10), "event queue full: 3 events dropped"),
    ])
    db.dispose()
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        rows = [(r.kind, r.component, r.started_at, r.ended_at, r.cause) for r in
                s.execute(select(Incident).order_by(Incident.started_at)).scalars()]
    db.dispose()
    assert rows == [
        ("outage", "gate", at(18, 59), at(19, 5),
         "gate worker exited unexpectedly (status 1); the chamber failed open"),
        ("outage", "gate", at(20, 0), None, "gate service stopped; the chamber failed open"),
        ("loss", "events", at(20, 10), at(20, 10), "event queue full: 3 events dropped"),
    ]
