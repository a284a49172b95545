"""Conditions as they were, from the process that sees them change.

A report states the conditions a meeting ran under (topology, mode, whether the gate was up
and enforcing, whether the sensor ran), from rows in the audit trail (action and entity
``conditions``). The web process writes one when a meeting starts or the mode changes; the
gate and its guard write one here at the instant the gate starts or stops enforcing, fails
open, or the sensor starts or stops — stamped with the time of the change, not the time a
watcher happened to poll. The row's keys and words are the ones the web side reads from the
heartbeat (``api.site.conditions.snapshot``), so the two never disagree about a change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import AuditRow
from monitor.store.policy_loader import site_mode

log = logging.getLogger(__name__)
ACTION = "conditions"
ACTOR = "system"
# What a change is: these keys (not the time or the reason) differ from the last row.
KEYS = ("topology", "mode", "gate", "enforcing", "sensor")
SENSOR_GATE_DOWN = "not running (gate down)"


@dataclass(frozen=True)
class GateConditions:
    """What the gate process knows of the conditions: the rest (topology, mode) is read
    from the settings and the database when the row is written."""

    gate: str  # "up" | "down"
    enforcing: bool
    sensor: str  # "off" | "running" | "stopped" | SENSOR_GATE_DOWN

    @classmethod
    def down(cls) -> GateConditions:
        return cls("down", False, SENSOR_GATE_DOWN)


@dataclass(frozen=True)
class Change:
    conditions: GateConditions
    reason: str
    at: datetime  # when it happened, from the clock of the process that saw it


def last_recorded(s: Session) -> dict[str, Any] | None:
    row = s.execute(select(AuditRow).where(AuditRow.action == ACTION, AuditRow.entity == ACTION)
                    .order_by(AuditRow.id.desc()).limit(1)).scalar_one_or_none()
    return dict(row.after) if row is not None and isinstance(row.after, dict) else None


def record_change(s: Session, settings: Settings, change: Change) -> bool:
    """Write the conditions after ``change`` unless the last row already says the same;
    the row's time is the change's. Returns whether a row was written."""
    c = change.conditions
    snap: dict[str, Any] = {"topology": settings.site.topology,
                            "mode": site_mode(s, settings).value, "gate": c.gate,
                            "enforcing": c.enforcing, "sensor": c.sensor}
    last = last_recorded(s)
    if last is not None and all(last.get(k) == snap[k] for k in KEYS):
        return False
    s.add(AuditRow(ts=change.at, actor=ACTOR, action=ACTION, entity=ACTION,
                   before={k: last.get(k) for k in KEYS} if last else None,
                   after={**snap, "reason": change.reason, "at": change.at.isoformat()}))
    return True


class ConditionsLog:
    """Changes noted on the gate's loop the moment they are seen (no I/O there), written by
    the next database turn (the heartbeat, which runs at once when one is pending)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._last: GateConditions | None = None
        self._pending: list[Change] = []

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def note(self, now: GateConditions, reason: str | None = None,
             at: datetime | None = None) -> bool:
        """Note the conditions as seen now; a change from the last noted is kept with its
        time (``at``, else the clock). Returns whether it was a change."""
        before, self._last = self._last, now
        if before == now:
            return False
        self._pending.append(Change(now, reason or describe(before, now), at or self.clock()))
        return True

    def write(self, s: Session, settings: Settings) -> int:
        """Write the pending changes in order; how many rows were written."""
        moves, self._pending = self._pending, []
        return sum(record_change(s, settings, c) for c in moves)


def describe(before: GateConditions | None, now: GateConditions) -> str:
    """The reason a row gives, in words: what changed."""
    if before is None:
        return "gate started" + (" enforcing" if now.enforcing else " (not enforcing)")
    parts = []
    if before.gate != now.gate:
        parts.append(f"gate {now.gate}")
    if before.enforcing != now.enforcing:
        parts.append("gate started enforcing" if now.enforcing else "gate stopped enforcing")
    if before.sensor != now.sensor:
        parts.append(f"sensor {now.sensor}")
    return "; ".join(parts) or "changed"


def record_now(db: Database, settings: Settings, change: Change) -> None:
    """Write one change from a process with no loop to keep turning (the guard, as the
    chamber fails open). A failure is logged: the chamber has failed open regardless."""
    try:
        with db.session() as s:
            record_change(s, settings, change)
    except Exception:
        log.exception("could not record the conditions after: %s", change.reason)
