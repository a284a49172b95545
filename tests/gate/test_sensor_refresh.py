"""Issue #18: the sensor reloads its snapshot when the clock leaves the snapshot's span, with
no revision change (a meeting imported days ahead is in the snapshot when it starts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.meetings.service import create_meeting
from monitor.sensor import refresh_policy
from tests import factories


def test_sensor_snapshot_follows_the_clock(tmp_path: Path) -> None:
    settings = factories.settings(tmp_path, 'room = "chamber"\n')
    db = factories.migrated_db(tmp_path)
    t0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    with db.session() as s:
        create_meeting(s, title="Planning", start=t0 + timedelta(days=3),
                       end=t0 + timedelta(days=3, hours=2), room="chamber", actor="t")
    pol, rev = refresh_policy(db, settings, None, -1, now=t0)
    assert pol.meetings == () and pol.covers(t0)
    same, rev2 = refresh_policy(db, settings, pol, rev, now=t0 + timedelta(minutes=30))
    assert same is pol and rev2 == rev  # inside the span, nothing changed: no reload
    later = t0 + timedelta(days=3, minutes=-1)
    new, rev3 = refresh_policy(db, settings, pol, rev, now=later)
    assert rev3 == rev and new is not pol
    assert [m.title for m in new.meetings] == ["Planning"]
    assert new.restriction("02:00:5e:10:00:01", later).restricted is False  # no device
    assert new.meeting_now(later + timedelta(minutes=2)) is not None
    db.dispose()
