"""Each part of the monitor during a meeting, from the typed incident rows: how long it was
down while the meeting was in session. Parts not used by this site's topology are left out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from monitor.health import LABELS, Component
from monitor.incidents import IncidentKind
from monitor.settings import Settings
from monitor.store.models import Incident


def in_use(settings: Settings) -> list[Component]:
    topo = settings.site.topology
    out = [] if topo == "mirror" else [Component.GATE]
    if topo == "inline" and settings.nftables.enabled:
        out.append(Component.FIREWALL)
    if settings.capture.enabled:
        out.append(Component.SENSOR)
    out += [Component.EVENTS, Component.SPOOL]
    if (settings.meetings.moderngov_url.strip() or settings.meetings.ical_url.strip()) \
            and settings.meetings.sync_interval_minutes > 0:
        out.append(Component.MEETING_SYNC)
    return out


def _clip(a: datetime, b: datetime, within: Sequence[tuple[datetime, datetime]]) -> timedelta:
    return sum((max(timedelta(0), min(b, d) - max(a, c)) for c, d in within), timedelta(0))


def component_rows(conn: Connection | Session, settings: Settings, room: str | None,
                   sessions: Sequence[tuple[datetime, datetime]], now: datetime
                   ) -> list[dict[str, Any]]:
    """[{component, label, outages, minutes_in_session}] for every part in use."""
    if not sessions:
        lo = hi = now
    else:
        lo, hi = min(a for a, _ in sessions), max(b for _, b in sessions)
    q = select(Incident.component, Incident.started_at, Incident.ended_at).where(
        Incident.kind == str(IncidentKind.OUTAGE), Incident.started_at <= hi,
        (Incident.ended_at.is_(None)) | (Incident.ended_at >= lo))
    if room is not None:
        q = q.where((Incident.room == room) | Incident.room.is_(None))
    down: dict[str, list[tuple[datetime, datetime]]] = {}
    for comp, a, b in conn.execute(q):
        down.setdefault(comp, []).append((a, b or now))
    rows = []
    for c in in_use(settings):
        spans = down.get(str(c), [])
        total = sum((_clip(a, b, sessions) for a, b in spans), timedelta(0))
        rows.append({"component": str(c), "label": LABELS[c], "outages": len(spans),
                     "minutes_in_session": int(round(total.total_seconds() / 60))})
    return rows
