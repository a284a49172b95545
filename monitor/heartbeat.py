"""The gate's heartbeat row, typed: written by the gate every tick, read by the web, IT's
readiness list, ``doctor`` and the conditions a report states — all through
:func:`read_heartbeat` (or :func:`read_counters` for the counters alone), never by parsing.

Columns: who (room, pid), when (started_at, seen_at), enforcing, ``stopped`` (a clean stop,
so "down" is immediate rather than after the staleness window), the passive sensor's state,
the counters (:class:`monitor.counters.GateCounters` as JSON) and the per-component health
(:mod:`monitor.health`).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from monitor.counters import CountersDamaged, GateCounters
from monitor.store.models import GateHeartbeat

log = logging.getLogger(__name__)

# The gate beats every ~2 s; a heartbeat older than this means nobody is supervising.
STALE_AFTER = timedelta(seconds=10)


class SensorState(enum.StrEnum):
    OFF = "off"  # not configured
    RUNNING = "running"
    STOPPED = "stopped"  # configured, and its process exited


class GateState(enum.StrEnum):
    UP = "up"
    DOWN = "down"  # stopped, or no heartbeat within STALE_AFTER
    NEVER = "never"  # no gate has run for this room


@dataclass(frozen=True, slots=True)
class Heartbeat:
    room: str
    pid: int
    started_at: datetime
    seen_at: datetime
    enforcing: bool  # as the gate last said; see :meth:`enforcing_now`
    stopped: bool
    sensor: SensorState | None  # None: not reported (a gate from before the column)
    counters: GateCounters | None  # None: not reported, or unreadable (logged)
    components: Mapping[str, Any] | None  # monitor.health.read_components reads these

    def state(self, now: datetime, stale_after: timedelta = STALE_AFTER) -> GateState:
        down = self.stopped or now - self.seen_at > stale_after
        return GateState.DOWN if down else GateState.UP

    def enforcing_now(self, now: datetime, stale_after: timedelta = STALE_AFTER) -> bool:
        return self.enforcing and self.state(now, stale_after) is GateState.UP


def gate_state(hb: Heartbeat | None, now: datetime,
               stale_after: timedelta = STALE_AFTER) -> GateState:
    return GateState.NEVER if hb is None else hb.state(now, stale_after)


def read_heartbeat(s: Session, room: str) -> Heartbeat | None:
    """The room's heartbeat, typed; None when no gate has run for the room."""
    row = s.get(GateHeartbeat, room)
    if row is None:
        return None
    return Heartbeat(
        room=row.room, pid=row.pid, started_at=_aware(row.started_at),
        seen_at=_aware(row.seen_at), enforcing=bool(row.enforcing), stopped=bool(row.stopped),
        sensor=_sensor(row.sensor), counters=_counters(row.counters),
        components=row.components)


def read_counters(s: Session, room: str) -> GateCounters | None:
    """The gate's counters as its last heartbeat carried them (None: none reported)."""
    hb = read_heartbeat(s, room)
    return hb.counters if hb is not None else None


def write_heartbeat(s: Session, room: str, *, pid: int, started_at: datetime,
                    now: datetime, enforcing: bool, sensor: SensorState,
                    counters: GateCounters, components: Mapping[str, Any],
                    restarted: bool = False) -> None:
    """The gate's beat: one row per room, created on the first beat, ``started_at`` reset
    when the worker (re)started."""
    row = s.get(GateHeartbeat, room)
    if row is None:
        row = GateHeartbeat(room=room, pid=pid, started_at=started_at, seen_at=now)
        s.add(row)
    row.pid = pid
    row.seen_at = now
    row.enforcing = enforcing
    row.stopped = False
    row.sensor = str(sensor)
    row.counters = counters.as_json()
    row.components = dict(components)
    if restarted:
        row.started_at = started_at


def mark_stopped(s: Session, room: str) -> None:
    """A clean stop: the readers show the gate down at once."""
    row = s.get(GateHeartbeat, room)
    if row is not None:
        row.enforcing = False
        row.stopped = True


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _sensor(raw: str | None) -> SensorState | None:
    try:
        return SensorState(raw) if raw is not None else None
    except ValueError:
        log.warning("gate heartbeat: unknown sensor state %r", raw)
        return None


def _counters(raw: object) -> GateCounters | None:
    if raw is None:
        return None
    try:
        return GateCounters.from_json(raw)
    except CountersDamaged as exc:
        log.warning("%s", exc)
        return None
