"""Typed incidents: outages and errors as rows (kind, component, start, end, cause).

Two sources. A component's outage is opened when its supervisor sees it go down and closed
when it is back (:func:`open_outage`, :func:`close_outages`). An error on the evidence path is
noted where it happens — on the DNS loop or a worker thread, never waiting — by
:class:`IncidentLog`, and written by a tick, identical errors folded into one row with a count.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from monitor.health import Component
from monitor.store.models import Incident

CAUSE_MAX = 500


class IncidentKind(enum.StrEnum):
    OUTAGE = "outage"  # the component was down: its part of enforcing or recording not done
    ERROR = "error"  # a failure on the evidence path (logged with its traceback)
    LOSS = "loss"  # events lost, or not crash-safe


@dataclass(frozen=True, slots=True)
class IncidentNote:
    kind: IncidentKind
    component: Component
    started_at: datetime
    ended_at: datetime | None
    cause: str
    count: int = 1

    def row(self, room: str | None) -> dict[str, object]:
        return {"kind": str(self.kind), "component": str(self.component), "room": room,
                "started_at": self.started_at, "ended_at": self.ended_at,
                "cause": self.cause[:CAUSE_MAX], "count": self.count}


def write_incidents(conn: Connection | Session, room: str | None,
                    notes: Sequence[IncidentNote]) -> None:
    if notes:
        conn.execute(insert(Incident), [n.row(room) for n in notes])


def open_outage(s: Session, room: str | None, component: Component, start: datetime,
                cause: str) -> None:
    """Open an outage of ``component`` unless one is open already (keeps the earlier start)."""
    if _open(s, room, component) is None:
        write_incidents(s, room, [IncidentNote(IncidentKind.OUTAGE, component, start, None,
                                               cause)])


def close_outages(s: Session, room: str | None, component: Component, end: datetime) -> int:
    """Close every open outage of ``component``; returns how many were open."""
    res = s.execute(update(Incident).where(
        Incident.kind == str(IncidentKind.OUTAGE), Incident.component == str(component),
        Incident.ended_at.is_(None), _room(room)).values(ended_at=end))
    return int(getattr(res, "rowcount", 0) or 0)


def _room(room: str | None) -> ColumnElement[bool]:
    return Incident.room.is_(None) if room is None else Incident.room == room


def _open(s: Session, room: str | None, component: Component) -> Incident | None:
    return s.execute(select(Incident).where(
        Incident.kind == str(IncidentKind.OUTAGE), Incident.component == str(component),
        Incident.ended_at.is_(None), _room(room)).limit(1)).scalar_one_or_none()


@dataclass(slots=True)
class _Pending:
    first: datetime
    last: datetime
    count: int


class IncidentLog:
    """Errors noted from any thread; :meth:`drain` folds identical ones (same component,
    kind and cause) into one note with first/last time and a count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[IncidentKind, Component, str], _Pending] = {}
        self.noted = 0

    def note(self, kind: IncidentKind, component: Component, cause: str,
             at: datetime | None = None, count: int = 1) -> None:
        at = at or datetime.now(UTC)
        key = (kind, component, cause[:CAUSE_MAX])
        with self._lock:
            self.noted += count
            got = self._pending.get(key)
            if got is None:
                self._pending[key] = _Pending(at, at, count)
            else:
                got.first, got.last = min(got.first, at), max(got.last, at)
                got.count += count

    def error(self, component: Component, where: str, exc: BaseException) -> None:
        self.note(IncidentKind.ERROR, component, f"{where}: {type(exc).__name__}: {exc}")

    def drain(self) -> list[IncidentNote]:
        with self._lock:
            pending, self._pending = self._pending, {}
        return [IncidentNote(k, c, p.first, p.last, cause, p.count)
                for (k, c, cause), p in pending.items()]

    def put_back(self, notes: Sequence[IncidentNote]) -> None:
        """Notes whose write failed: kept for the next try (folded with newer ones)."""
        for n in notes:
            self.note(n.kind, n.component, n.cause, n.started_at, n.count)
            if n.ended_at is not None:
                self.note(n.kind, n.component, n.cause, n.ended_at, 0)
