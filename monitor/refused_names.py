"""Unlisted names refused to restricted devices, kept briefly for IT's troubleshooting.

The runbook sends IT here when a member cannot reach the papers: the names the device asked
for and was refused (not on the allowlist) show which host is missing. Counted in memory on
the hot path (the gate's slow path: a name's first answer for a client; repeats answered by
the fast path are not counted), written and purged on the gate's periodic tick. Names and
times only; rows older than ``[retention] refused_names_hours`` are deleted.

Two threads note names (the gate loop and a worker) while the tick takes the batch: one lock
guards the pending counts, held only to add one lookup or to swap the batch out — never
while writing to the database.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor.store.models import RefusedNameRow

MAX_PENDING = 50_000  # a flood of random names between two ticks: keep the first ones only


@dataclass(frozen=True)
class Batch:
    """What was counted between two ticks, per (device id, name)."""

    counts: Counter[tuple[int, str]]
    first: dict[tuple[int, str], datetime]
    last: dict[tuple[int, str], datetime]


class RefusedNames:
    def __init__(self, keep: timedelta) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._pending = Batch(Counter(), {}, {})

    def note(self, device_id: int, name: str, ts: float) -> None:
        key = (device_id, name)
        when = datetime.fromtimestamp(ts, UTC)
        with self._lock:
            p = self._pending
            if key not in p.counts and len(p.counts) >= MAX_PENDING:
                return
            p.counts[key] += 1
            p.first.setdefault(key, when)
            p.last[key] = when

    def take(self) -> Batch:
        """The batch counted so far; counting starts afresh."""
        with self._lock:
            batch, self._pending = self._pending, Batch(Counter(), {}, {})
        return batch

    def flush(self, s: Session, now: datetime) -> int:
        """Upsert what was counted since the last flush and delete rows past their time;
        returns the names written."""
        batch = self.take()
        counts, first, last = batch.counts, batch.first, batch.last
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
