"""The write path. The gate and capture hand records to :class:`EventWriter`, which never makes
them wait for a disk or a database:

    submit() ──► memory buffer ──► flusher thread: spool append + fsync ──► "acknowledged"
     (append only,  (bounded;         (every few ms, a batch)                 │
      never waits)   overflow is                                              ▼
                     counted)               database thread: insert batch (idempotent), commit,
                                            NOTIFY, then trim the spool

*Acknowledged* means durable: the record is in an fsynced spool segment and will reach the
database even if the process is killed the next instant (start-up replays the spool). Records
are acknowledged in submission order, so ``acknowledged == n`` names exactly the first ``n``
accepted records. A record ``submit`` refused (buffer full) is counted in ``dropped`` and the
count itself is written as an ``outage`` event — never silently.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import exc as sa_exc

from allowlist.events import EventAction, EventKind
from monitor.events.encoder import RowEncoder
from monitor.events.record import FIELDS, EventRecord
from monitor.events.spooling import rows_from_spool
from monitor.evidence.devices import PresenceNote, touch_devices
from monitor.evidence.sink import insert_events
from monitor.evidence.spool import SegmentContents, Spool, SpoolBusy, read_segment
from monitor.health import Component
from monitor.incidents import IncidentKind, IncidentLog, write_incidents
from monitor.store.db import Database

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Batch:
    seq_hi: int  # highest sequence number in the batch (this boot)
    rows: list[tuple[object, ...]]  # FIELDS order, storage form
    submitted: int  # how many of the rows came through submit() (the rest are the writer's own)
    durable: bool  # in the spool already
    bodies: list[str]  # each row's canonical JSON for the hash chain, encoded once (spool too)


TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
             sa_exc.TimeoutError, ConnectionError)


class EventWriter:
    """Bounded, batching, durable writer. ``submit`` never waits on a lock, a disk or the
    database: it appends to an in-memory buffer or counts a drop.

    ``spool_dir``: where the durable spool lives (the gate uses ``<data_dir>/spool/<room>``).
    Without one, nothing is crash-safe and ``acknowledged`` counts committed rows instead.
    """

    def __init__(self, db: Database, *, room: str | None = None, spool_dir: Path | None = None,
                 capacity: int = 100_000, batch: int = 5000, interval: float = 0.004,
                 max_pending: int = 200_000,
                 on_durable: Callable[[int], None] | None = None,
                 on_written: Callable[[int], None] | None = None) -> None:
        self.db = db
        self.room = room
        self.boot = secrets.token_hex(8)
        self.spool = Spool(spool_dir, FIELDS, self.boot) if spool_dir is not None else None
        self._capacity = capacity
        self._batch = batch
        self._interval = interval
        self._max_pending = max_pending
        self._on_durable = on_durable
        self._on_written = on_written
        self._encoder = RowEncoder()
        self._buf: deque[EventRecord] = deque()
        self._internal: deque[EventRecord] = deque()  # the writer's own outage/device-seen rows
        self._presence: deque[PresenceNote] = deque()
        self._drop_lock = threading.Lock()  # taken only on the overflow path
        self._seq = 0
        self._pending: deque[_Batch] = deque()
        self._pending_rows = 0
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._final_flushed = threading.Event()  # stop() has spooled the last of the buffer
        self._give_up_at = float("inf")
        self._busy = False  # the db thread holds rows or notes it has not finished with
        self._flushing = False  # the flusher holds records between buffer and pending
        self._old_segments: list[Path] = []
        self._flusher = threading.Thread(target=self._flush_loop, name="event-spool", daemon=True)
        self._dbthread = threading.Thread(target=self._db_loop, name="event-db", daemon=True)
        self.dropped = 0  # refused by submit (buffer full)
        self._drops_reported = 0
        self.acknowledged = 0  # submitted records that are durable, in submission order
        self.written = 0  # rows committed by this writer (its own outage rows included)
        self.replayed = 0  # rows re-offered from an earlier run's spool
        self.spool_damaged = 0  # complete spool lines that failed their check on replay
        self.rejected = 0  # rows the database refused for good (reported as an outage)
        # Losses and failures as typed incidents (written by the database thread).
        self.incidents = IncidentLog()
        self.failing_since: float | None = None  # monotonic time database writes began failing

    # -- producer side (hot path) ------------------------------------------------------
    def submit(self, rec: EventRecord) -> bool:
        """Take a record; never waits. False (and counted) when the buffer is full."""
        if len(self._buf) < self._capacity:
            self._buf.append(rec)
            return True
        with self._drop_lock:
            self.dropped += 1
        return False

    def note_presence(self, note: PresenceNote) -> None:
        """A device was seen (already throttled by the caller); applied on the db thread."""
        if len(self._presence) < 10_000:
            self._presence.append(note)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self.spool is not None:
            try:
                self._old_segments = self.spool.open()
            except (OSError, SpoolBusy) as exc:
                # Keep the gate answering (DESIGN §5) and say what is lost: crash safety.
                log.error("event spool unavailable (%s); events are not crash-safe", exc)
                self.spool = None
                self._loss(Component.SPOOL, f"event spool unavailable ({type(exc).__name__}): "
                                            "events are not crash-safe")
        self._flusher.start()
        self._dbthread.start()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is committed (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cv:
                idle = not (self._buf or self._internal or self._presence or self._pending
                            or self._busy or self._flushing or self._old_segments)
            if idle and self.dropped == self._drops_reported:
                return True
            time.sleep(0.002)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """Spool what is buffered, commit what can be committed within ``timeout``; the rest
        stays in the spool for the next start."""
        if self._flusher.ident is None:
            return  # never started: nothing was taken from the buffer, nothing is open
        self._give_up_at = time.monotonic() + timeout
        self._stop.set()
        if self._flusher.is_alive():
            self._flusher.join(timeout)
        if not self._flusher.is_alive():
            self._flush_once()  # anything submitted while the flusher was finishing
        self._final_flushed.set()
        with self._cv:
            self._cv.notify_all()
        if self._dbthread.is_alive():
            self._dbthread.join(max(0.1, self._give_up_at - time.monotonic() + 1))
        if self.spool is not None:
            self.spool.close()

    # -- flusher thread: buffer → spool (fsync) → pending ----------------------------------
    def _flush_loop(self) -> None:
        while True:
            if self._pending_rows >= self._max_pending and not self._stop.is_set():
                time.sleep(self._interval)  # database far behind: let the buffer take it
                continue
            if not self._flush_once():
                if self._stop.is_set():
                    return
                time.sleep(self._interval)

    def _flush_once(self) -> bool:
        self._flushing = True
        try:
            return self._spool_some()
        finally:
            with self._cv:
                self._flushing = False

    def _spool_some(self) -> bool:
        own: list[EventRecord] = []
        while self._internal:
            own.append(self._internal.popleft())
        dropped = self.dropped
        if dropped > self._drops_reported:
            n = dropped - self._drops_reported
            self._drops_reported = dropped
            detail = f"event queue full: {n} events dropped"
            own.append(EventRecord(datetime.now(UTC), EventKind.OUTAGE, EventAction.OBSERVED,
                                   room=self.room, detail=detail))
            self.incidents.note(IncidentKind.LOSS, Component.EVENTS, detail)
        items: list[EventRecord] = []
        buf = self._buf
        for _ in range(min(len(buf), self._batch)):
            items.append(buf.popleft())
        if not items and not own:
            return False
        recs = own + items
        first = self._seq + 1
        self._seq += len(recs)
        uids = [f"{self.boot}-{n}" for n in range(first, self._seq + 1)]
        rows, encoded, bodies = self._encoder.encode(recs, uids)
        durable = False
        if self.spool is not None:
            try:
                self.spool.append(self._seq, rows, encoded)
                durable = True
            except (OSError, TypeError, ValueError):
                log.exception("event spool write failed; %d events are not crash-safe", len(recs))
                self._loss(Component.SPOOL,
                           f"event spool write failed: {len(recs)} events not crash-safe")
        if durable and items:
            self.acknowledged += len(items)
            if self._on_durable is not None:
                self._on_durable(self.acknowledged)
        batch = _Batch(self._seq, rows, len(items), durable, bodies)
        with self._cv:
            self._pending.append(batch)
            self._pending_rows += len(recs)
            self._cv.notify()
        return True

    # -- database thread: replay, then pending → database --------------------------------
    def _db_loop(self) -> None:
        self._replay()
        while True:
            with self._cv:
                if not self._pending and not self._presence:
                    if self._final_flushed.is_set():
                        # The flusher is gone; spool our own last rows (if any) ourselves.
                        if not (self._internal and self._flush_once()):
                            return
                    else:
                        self._cv.wait(0.25)
                taken: list[_Batch] = []
                n = 0
                pend = self._pending
                while pend and (not taken or n + len(pend[0].rows) <= self._batch):
                    b = pend.popleft()
                    taken.append(b)
                    n += len(b.rows)
                self._busy = bool(taken or self._presence)
            try:
                if taken and not self._commit(taken):
                    return  # stopping with the database unreachable: the spool keeps them
                if self._presence:
                    self._apply_presence()
                self._apply_incidents()
            finally:
                with self._cv:
                    self._busy = False

    def _commit(self, batches: list[_Batch]) -> bool:
        rows = [r for b in batches for r in b.rows]
        bodies = [x for b in batches for x in b.bodies]
        if not self._insert(rows, bodies):
            return False
        for b in batches:
            if b.durable and self.spool is not None:
                self.spool.committed(b.seq_hi)
            elif b.submitted:
                self.acknowledged += b.submitted  # no spool: committed is the best we have
        with self._cv:
            self._pending_rows -= len(rows)
        self.written += len(rows)
        if self._on_written is not None:
            self._on_written(len(rows))
        return True

    def _insert(self, rows: Sequence[tuple[object, ...]],
                bodies: Sequence[str] | None = None) -> bool:
        """Insert with retries; True once committed (or once bad rows have been set aside),
        False only when stopping and the database stayed unreachable. ``bodies``: the rows'
        canonical JSON from the flusher (recomputed when None)."""
        attempt = 0
        while True:
            try:
                with self.db.engine.begin() as conn:
                    insert_events(conn, rows, notify=self.room or "", bodies=bodies)
                self.failing_since = None
                return True
            except TRANSIENT:
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                attempt += 1
                log.warning("event write failed (attempt %d); retrying", attempt, exc_info=True)
                if self._stop.is_set() and time.monotonic() >= self._give_up_at:
                    return False
                delay = min(2.0, 0.05 * 2 ** min(attempt, 6))
                self._stop.wait(delay)  # stopping: retry briskly until the give-up time
                if self._stop.is_set():
                    time.sleep(min(delay, 0.05))
            except Exception as exc:  # a row the database will never take: set it aside
                if len(rows) > 1:
                    mid = len(rows) // 2
                    return (self._insert(rows[:mid], bodies and bodies[:mid])
                            and self._insert(rows[mid:], bodies and bodies[mid:]))
                log.error("event rejected by the database: %s (%r)", exc, rows[0],
                          exc_info=True)
                self.rejected += 1
                self._loss(Component.EVENTS,
                           f"an event could not be stored: {type(exc).__name__}")
                return True

    def _replay(self) -> None:
        """Offer an earlier run's spool to the database, then delete it (idempotent)."""
        if self.spool is None or not self._old_segments:
            self._old_segments = []
            return
        damaged = 0
        for path in list(self._old_segments):
            try:
                seg: SegmentContents = read_segment(path)
            except OSError:
                log.exception("cannot read spool segment %s", path)
                continue
            damaged += seg.damaged
            rows = rows_from_spool(seg)
            for i in range(0, len(rows), self._batch):
                if not self._insert(rows[i:i + self._batch]):
                    return  # stopping; the segment stays for next time
            self.replayed += len(rows)
            self.spool.discard([path])
            log.info("replayed %d events from %s", len(rows), path.name)
        self._old_segments = []
        if damaged:
            self.spool_damaged += damaged
            self._loss(Component.SPOOL,
                       f"event spool: {damaged} damaged records could not be replayed")

    def _loss(self, component: Component, detail: str) -> None:
        """Something recorded (or crash-safe) was lost: an outage event in the evidence
        stream, where the clerk sees it, and a typed incident, which reports count."""
        self._internal.append(EventRecord(datetime.now(UTC), EventKind.OUTAGE,
                                          EventAction.OBSERVED, room=self.room, detail=detail))
        self.incidents.note(IncidentKind.LOSS, component, detail)

    def _apply_incidents(self) -> None:
        notes = self.incidents.drain()
        if not notes:
            return
        try:
            with self.db.engine.begin() as conn:
                write_incidents(conn, self.room, notes)
        except Exception:
            log.exception("could not record %d incidents; kept for the next try", len(notes))
            self.incidents.put_back(notes)

    def _apply_presence(self) -> None:
        notes: dict[str, PresenceNote] = {}
        while self._presence:
            n = self._presence.popleft()
            notes[n.mac] = n  # the latest sighting of each device wins
        try:
            with self.db.engine.begin() as conn:
                created = touch_devices(conn, notes.values())
        except Exception as exc:
            log.warning("device presence update failed (next sighting retries)", exc_info=True)
            self.incidents.error(Component.EVENTS, "device presence update", exc)
            return
        for new in created:
            if new.note.meeting_id is not None:
                # The MAC stays on the device row only (one place to purge it from).
                self._internal.append(EventRecord(
                    new.note.ts, EventKind.DEVICE_SEEN, EventAction.OBSERVED, room=self.room,
                    device_id=new.device_id, meeting_id=new.note.meeting_id,
                    detail="unregistered device first seen"))
