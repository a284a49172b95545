"""Conditions as they were: topology, mode and sensor state, recorded when they matter.

A report is read months later; "as configured when the report was made" is not evidence.
So the conditions are written to the audit trail (action and entity ``conditions``)
when a meeting starts or resumes, when the mode changes, when the web process starts (a new
configuration, e.g. another topology) and whenever the watcher sees them change (the gate
stopping, the sensor exiting). The report reads the row in force at the meeting's start and
every change inside its window (api.reports.builder).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from api.audit.service import record
from monitor.conditions import ACTION, KEYS, SENSOR_GATE_DOWN, last_recorded
from monitor.heartbeat import GateState, read_heartbeat
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.policy_loader import site_mode
from monitor.store.types import utcnow

log = logging.getLogger(__name__)


def snapshot(s: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """The conditions now: topology (config), site mode, the gate's and the sensor's state
    from the gate's heartbeat."""
    hb = read_heartbeat(s, settings.site.room)
    gate, enforcing, sensor = "never started", False, "not reported"
    if hb is not None:
        down = hb.state(now) is GateState.DOWN
        gate = str(hb.state(now))
        enforcing = hb.enforcing_now(now)
        sensor = (SENSOR_GATE_DOWN if down
                  else str(hb.sensor) if hb.sensor is not None else "not reported")
    return {"topology": settings.site.topology, "mode": site_mode(s, settings).value,
            "gate": gate, "enforcing": enforcing, "sensor": sensor}


def record_conditions(s: Session, settings: Settings, *, actor: str, reason: str,
                      meeting_id: int | None = None, now: datetime | None = None,
                      always: bool = False) -> bool:
    """Write the conditions if they changed since the last row (or ``always``, as at a
    meeting's start). Returns whether a row was written."""
    now = now or utcnow()
    snap = snapshot(s, settings, now)
    last = last_recorded(s)
    if not always and last is not None and all(last.get(k) == snap[k] for k in KEYS):
        return False
    record(s, actor=actor, action=ACTION, entity=ACTION, entity_id=meeting_id,
           before={k: last.get(k) for k in KEYS} if last else None,
           after={**snap, "reason": reason, "at": now.isoformat()})
    return True


async def watch_conditions(settings: Settings, db: Database, stop_event: asyncio.Event, *,
                           interval: float = 30.0) -> None:
    """Record the conditions at start and whenever they change, until ``stop_event``."""
    first = True
    while not stop_event.is_set():
        try:
            def _once(reason: str) -> None:
                with db.session() as s:
                    record_conditions(s, settings, actor="system", reason=reason)
            await asyncio.to_thread(_once, "service start" if first else "changed")
        except Exception:  # noqa: BLE001 — the watcher must outlive a database hiccup
            log.exception("recording the conditions failed; trying again")
        first = False
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=interval)
            return
        except TimeoutError:
            pass
