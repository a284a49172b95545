"""Events: what the gate and the sensor record, and how it reaches the database.

One module per job:

* :mod:`allowlist.events` — the kinds and actions (the domain's vocabulary);
* :mod:`monitor.events.record` — :class:`EventRecord` and the event for a decision;
* :mod:`monitor.events.encoder` — records to storage rows, spool JSON and chain bodies;
* :mod:`monitor.events.spooling` — where a spool lives and how a replayed segment reads;
* :mod:`monitor.events.writer` — :class:`EventWriter`, the bounded, durable write path;
* :mod:`monitor.events.store` — one-off records from a process without a writer.

The names below are re-exported so callers keep one import line.
"""

from allowlist.events import EventAction, EventKind
from monitor.events.encoder import RowEncoder
from monitor.events.record import FIELDS, RECORDED_KINDS, EventRecord, decision_event
from monitor.events.spooling import rows_from_spool, spool_dir
from monitor.events.store import store_now
from monitor.events.writer import TRANSIENT, EventWriter

__all__ = [
    "FIELDS", "RECORDED_KINDS", "TRANSIENT", "EventAction", "EventKind", "EventRecord",
    "EventWriter", "RowEncoder", "decision_event", "rows_from_spool", "spool_dir", "store_now",
]
