"""Learn mode: record every name a chosen device resolves for a while.

Before default-deny goes live, IT opens the agenda and a webcast on one device in learn mode;
the names it needed (CDNs, asset and player hosts) come back as proposed rules grouped by
registrable domain. Counting is in memory on the hot path; a tick writes it out.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import Device, LearnedName, LearnSession


def active_sessions(s: Session, now: datetime) -> dict[str, int]:
    """MAC → learn session id, for sessions running at ``now``."""
    rows = s.execute(
        select(Device.mac, LearnSession.id)
        .join(Device, Device.id == LearnSession.device_id)
        .where(LearnSession.started_at <= now, LearnSession.until > now)
    ).all()
    return {mac: sid for mac, sid in rows}


class LearnRecorder:
    """``note`` runs on the DNS loop, ``flush`` on a worker thread: the counts are swapped
    out under a lock (held for a few dictionary operations, never for database work)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active: dict[str, int] = {}
        self._counts: Counter[tuple[int, str]] = Counter()
        self._first: dict[tuple[int, str], datetime] = {}
        self._last: dict[tuple[int, str], datetime] = {}

    def note(self, mac: str | None, name: str, ts: float) -> None:
        sid = self.active.get(mac) if mac else None
        if sid is None or not name:
            return
        key = (sid, name)
        when = datetime.fromtimestamp(ts, UTC)
        with self._lock:
            self._counts[key] += 1
            self._first.setdefault(key, when)
            self._last[key] = when

    def flush(self, s: Session) -> int:
        """Upsert what was counted since the last flush; returns names written."""
        with self._lock:
            counts, first, last = self._counts, self._first, self._last
            self._counts, self._first, self._last = Counter(), {}, {}
        for (sid, name), n in counts.items():
            row = s.execute(
                select(LearnedName).where(LearnedName.session_id == sid, LearnedName.name == name)
            ).scalar_one_or_none()
            if row is None:
                s.add(
                    LearnedName(
                        session_id=sid,
                        name=name,
                        first_seen=first[(sid, name)],
                        last_seen=last[(sid, name)],
                        lookups=n,
                    )
                )
            else:
                row.lookups += n
                row.last_seen = last[(sid, name)]
        return len(counts)
