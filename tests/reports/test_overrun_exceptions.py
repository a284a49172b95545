"""The meeting report shows the clerk's overrun extensions (and the session they lengthened)
and every exception granted for the meeting, with its reason (issue 21)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from api.errors import Conflict, Invalid
from api.meetings.overrun import extend_meeting, grant_exemption, withdraw_exemption
from api.reports import service
from api.reports.builder import london
from dashboard.reports import render
from monitor.store.models import AuditRow
from tests.reports.seed import at, seed_golden

GRACE = timedelta(minutes=5)
WEEK = timedelta(days=7)


def test_extension_and_exceptions_are_in_the_report(tmp_path: Path) -> None:
    g = seed_golden(tmp_path)
    mid = g.ids["other"]  # 18:00-21:00 a week later, no clerk actions: the schedule decides
    end = at(21, 0) + WEEK
    with g.db.session() as s:
        with pytest.raises(Invalid):  # too early: not within 10 minutes of end + grace
            extend_meeting(s, meeting_id=mid, minutes=30, actor="clerk", grace=GRACE,
                           at=end - timedelta(minutes=30))
        with pytest.raises(Invalid):
            extend_meeting(s, meeting_id=mid, minutes=45, actor="clerk", grace=GRACE,
                           at=end)
        extend_meeting(s, meeting_id=mid, minutes=30, actor="clerk", grace=GRACE, at=end)
        grant_exemption(s, meeting_id=mid, actor="clerk", member_id=g.ids["ada"],
                        reason="Reasonable adjustment")
        with pytest.raises(Conflict):
            grant_exemption(s, meeting_id=mid, actor="clerk", member_id=g.ids["ada"],
                            reason="again")
        with pytest.raises(Invalid):
            grant_exemption(s, meeting_id=mid, actor="clerk", device_id=g.ids["phone"],
                            reason="   ")
        dev = grant_exemption(s, meeting_id=mid, actor="clerk", device_id=g.ids["phone"],
                              reason="Chair's decision: on call")
        withdraw_exemption(s, meeting_id=mid, exemption_id=dev.id, actor="clerk")
        actions = [a.action for a in s.query(AuditRow).filter(AuditRow.entity_id == str(mid))]
    assert {"clerk-extend", "grant-exception", "withdraw-exception"} <= set(actions)
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t", meeting_id=mid,
                        now=end + timedelta(hours=2))
    mt = doc["meeting"]
    assert [e["minutes"] for e in mt["extensions"]] == [30]
    # Session by the schedule: to the extended end + 5 min grace.
    assert mt["sessions"][0]["end"] == london(end + timedelta(minutes=35))
    ex = {e["who"]: e for e in mt["exceptions"]}
    assert ex["Cllr Ada Lovelace"]["reason"] == "Reasonable adjustment"
    assert ex["Cllr Ada Lovelace"]["withdrawn_at"] is None
    phone = ex["Cllr Grace Hopper's device (Phone)"]
    assert phone["reason"] == "Chair's decision: on call" and phone["withdrawn_by"] == "clerk"
    html = render.html(doc).decode()
    assert "Overrun extensions" in html and "30 min" in html
    assert "Reasonable adjustment" in html and "Chair&#39;s decision: on call" in html
    g.db.dispose()
