"""The event record and its write path.

:class:`EventRecord` is the one documented type for everything the clerk and the report see
(Zeek-style). The gate and capture hand records to :class:`EventWriter`, which never blocks
them: a bounded queue drained in batches by a thread. Overflow is counted and itself recorded.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import insert

from monitor.store.db import Database
from monitor.store.models import Event

log = logging.getLogger(__name__)


class EventKind(enum.StrEnum):
    ATTEMPT = "attempt"  # a restricted device reached for a social platform (or other refused name)
    BYPASS = "bypass"  # DoH/DoT/QUIC/foreign resolver/canary
    ALLOWED_SAMPLE = "allowed-sample"  # a sample of allowed traffic (agenda/webcast) for context
    OUTAGE = "outage"  # the gate was down or dropped events
    DEVICE_SEEN = "device-seen"  # presence: a device appeared on the chamber network


class EventAction(enum.StrEnum):
    REFUSED = "refused"
    ALLOWED = "allowed"
    OBSERVED = "observed"  # monitor-only, or seen passively


@dataclass(frozen=True, slots=True)
class EventRecord:
    """ts: when (UTC); kind/action: see the enums; room: the gate that saw it;
    mac/device_id/member_id: attribution at the time (kept even if the device is later
    re-registered); meeting_id: the meeting in session; domain/platform/category: what was
    reached for (never a URL); channels: comma list of dns/tls/quic/http; rule: the rule that
    decided; detail: a short neutral note (e.g. the bypass kind)."""

    ts: datetime
    kind: EventKind
    action: EventAction
    room: str | None = None
    mac: str | None = None
    device_id: int | None = None
    member_id: int | None = None
    meeting_id: int | None = None
    domain: str | None = None
    platform: str | None = None
    category: str | None = None
    channels: str = "dns"
    rule: str | None = None
    detail: str | None = None

    def row(self) -> dict[str, object]:
        d = asdict(self)
        d["kind"] = self.kind.value
        d["action"] = self.action.value
        return d


class EventWriter:
    """Bounded, batching, non-blocking writer. ``submit`` never waits on the database."""

    def __init__(self, db: Database, *, room: str | None = None, capacity: int = 100_000,
                 batch: int = 1000, interval: float = 0.05,
                 on_written: Callable[[int], None] | None = None) -> None:
        self.db = db
        self.room = room
        self._q: queue.Queue[EventRecord] = queue.Queue(maxsize=capacity)
        self._batch = batch
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self.written = 0
        self.dropped = 0
        self._dropped_reported = 0
        self._on_written = on_written

    def start(self) -> None:
        self._thread.start()

    def submit(self, rec: EventRecord) -> bool:
        try:
            self._q.put_nowait(rec)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def _drain(self) -> list[EventRecord]:
        items: list[EventRecord] = []
        try:
            items.append(self._q.get(timeout=self._interval))
            while len(items) < self._batch:
                items.append(self._q.get_nowait())
        except queue.Empty:
            pass
        return items

    def _write(self, items: list[EventRecord]) -> None:
        if self.dropped > self._dropped_reported:
            n = self.dropped - self._dropped_reported
            self._dropped_reported = self.dropped
            items.append(EventRecord(datetime.now(UTC), EventKind.OUTAGE, EventAction.OBSERVED,
                                     room=self.room, detail=f"event queue full: {n} events dropped"))
        if not items:
            return
        for attempt in range(5):
            try:
                with self.db.session() as s:
                    s.execute(insert(Event), [r.row() for r in items])
                break
            except Exception:  # database busy or gone: retry, never lose silently
                log.exception("event write failed (attempt %d)", attempt + 1)
                time.sleep(0.2 * (attempt + 1))
        else:
            self.dropped += len(items)
            return
        self.written += len(items)
        if self._on_written:
            self._on_written(len(items))

    def _run(self) -> None:
        while not self._stop.is_set() or not self._q.empty():
            self._write(self._drain())

    def flush(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._q.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(self._interval * 2)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
