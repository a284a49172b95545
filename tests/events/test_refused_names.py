"""IT's troubleshooting list of unlisted names refused to restricted devices: upserted per
device and name on the gate's tick, and deleted after ``refused_names_hours`` (issue 21)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from monitor.refused_names import RefusedNames
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import Device, RefusedNameRow

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)


def test_refused_names_are_counted_per_device_and_purged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cg.db'}"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        dev = Device(mac="02:00:5e:10:00:01", label="iPad")
        s.add(dev)
        s.flush()
        dev_id = dev.id
    rec = RefusedNames(keep=timedelta(hours=24))
    rec.note(dev_id, "papers-cdn.example.net", T0.timestamp())
    rec.note(dev_id, "papers-cdn.example.net", (T0 + timedelta(seconds=5)).timestamp())
    rec.note(dev_id, "old.example.net", (T0 - timedelta(hours=30)).timestamp())
    with db.session() as s:
        assert rec.flush(s, T0) == 2
    rec.note(dev_id, "papers-cdn.example.net", (T0 + timedelta(minutes=1)).timestamp())
    with db.session() as s:
        rec.flush(s, T0 + timedelta(minutes=1))
        rows = {r.name: r for r in s.execute(select(RefusedNameRow)).scalars()}
        assert set(rows) == {"papers-cdn.example.net"}  # older than 24 h: gone
        row = rows["papers-cdn.example.net"]
        assert row.lookups == 3 and row.first_seen == T0
        assert row.last_seen == T0 + timedelta(minutes=1)
    with db.session() as s:
        rec.flush(s, T0 + timedelta(hours=25))
        assert s.execute(select(RefusedNameRow)).first() is None
    db.dispose()
