"""Issue #18: a gate that runs for days enforces a meeting imported long before it starts,
with no configuration change in between (the snapshot is reloaded when its span runs out)."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.netns.harness import FACEBOOK, Chamber

GRACE = timedelta(minutes=5)


def _revision(c: Chamber) -> int:
    db = sqlite3.connect(c.tmp / "data" / "chamberguard.db")
    try:
        return int(db.execute("SELECT revision FROM site WHERE id = 1").fetchone()[0])
    finally:
        db.close()


def _attempts(c: Chamber, meeting_id: int) -> int:
    db = sqlite3.connect(c.tmp / "data" / "chamberguard.db")
    try:
        return int(db.execute("SELECT count(*) FROM events WHERE kind = 'attempt' AND "
                              "meeting_id = ?", (meeting_id,)).fetchone()[0])
    finally:
        db.close()


def test_gate_started_days_before_enforces_the_meeting_on_time(chamber: Chamber) -> None:
    c = chamber
    assert c.config is not None
    c.config.write_text(c.config.read_text().replace("grace_minutes = 0", "grace_minutes = 5"))
    c.cli("meetings", "end", str(c.ids["meeting"]))  # the harness's meeting is over
    t0 = datetime.now(UTC)
    start = (t0 + timedelta(days=3)).replace(microsecond=0)
    end = start + timedelta(hours=2)
    mid = json.loads(c.cli("meetings", "add", "--title", "Planning Committee", "--start",
                           start.isoformat(), "--end", end.isoformat(), "--room",
                           "chamber"))["id"]
    offset: Path = c.tmp / "clock-offset"
    offset.write_text("0")

    def move_to(t: datetime) -> None:
        offset.write_text(str((t - datetime.now(UTC)).total_seconds()))

    def refused() -> bool:
        return c.resolve(c.member, FACEBOOK).get("rcode") == "NXDOMAIN"

    c.gate = c.net.popen(c.net.gw, sys.executable, "-m", "tests.netns.clocked_gate",
                         str(c.config), str(offset), log=c.tmp / "gate.log", env=c.env())
    c.wait_until(lambda: c.resolve(c.guest, FACEBOOK).get("rcode") == "NOERROR",
                 what="gate answering", timeout=20)
    rev = _revision(c)
    assert not refused(), "no meeting in session yet: the member is not restricted"

    # Days later, a minute before start − grace: still free.
    move_to(start - GRACE - timedelta(seconds=60))
    loads = c.log("gate.log").count("policy snapshot loaded")
    c.wait_until(lambda: c.log("gate.log").count("policy snapshot loaded") > loads,
                 what="the gate reloading its snapshot at the new time (no config change)")
    assert not refused()
    # Inside start − grace: restricted within a tick or two, the same process, no config change.
    move_to(start - GRACE + timedelta(seconds=20))
    c.wait_until(refused, what="restriction at start − grace", timeout=10)
    c.wait_until(lambda: _attempts(c, mid) > 0, what="attempt recorded against the meeting")
    # Just before end + grace: still restricted.
    move_to(end + GRACE - timedelta(seconds=60))
    c.wait_until(refused, what="restriction until end + grace", timeout=10)
    # Past end + grace: free again.
    move_to(end + GRACE + timedelta(seconds=20))
    c.wait_until(lambda: not refused(), what="release at end + grace", timeout=10)
    assert c.gate.poll() is None, "the gate was never restarted"
    assert _revision(c) == rev, "no configuration change happened in between"
