"""Unlisted names refused to restricted devices, kept briefly for IT's troubleshooting.

The runbook sends IT here when a member cannot reach the papers: the names the device asked
for and was refused (not on the allowlist) show which host is missing. Counted in memory on
the hot path (the gate's slow path: a name's first answer for a client; repeats answered by
the fast path are not counted), written and purged on the gate's periodic tick. Names and
times only; rows older than ``[retention] refused_names_hours`` are deleted.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor.store.models import RefusedNameRow

MAX_PENDING = 50_000  # a flood of random names between two ticks: keep the first ones only


class RefusedNames:
    def __init__(self, keep: timedelta) -> None:
        self.keep = keep
        self._counts: Counter[tuple[int, str]] = Counter()
        self._first: dict[tuple[int, str], datetime] = {}
        self._last: dict[tuple[int, str], datetime] = {}

    def note(self, device_id: int, name: str, ts: float) -> None:
        key = (device_id, name)
        if key not in self._counts and len(self._counts) >= MAX_PENDING:
            return
        when = datetime.fromtimestamp(ts, UTC)
        self._counts[key] += 1
        self._first.setdefault(key, when)
        self._last[key] = when

    def flush(self, s: Session, now: datetime) -> int:
        """Upsert what was counted since the last flush and delete rows past their time;
        returns the names written."""
        counts, first, last = self._counts, self._first, self._last
        self._counts, self._first, self._last = Counter(), {}, {}
        for (device_id, name), n in counts.items():
            row = s.execute(select(RefusedNameRow).where(
                RefusedNameRow.device_id == device_id, RefusedNameRow.name == name)
            ).scalar_one_or_none()
            if row is None:
                s.add(RefusedNameRow(device_id=device_id, name=name,
                                     first_seen=first[(device_id, name)],
                                     last_seen=last[(device_id, name)], lookups=n))
            else:
                row.lookups += n
                row.last_seen = last[(device_id, name)]
        s.flush()
        s.execute(delete(RefusedNameRow).where(RefusedNameRow.last_seen < now - self.keep))
        return len(counts)
