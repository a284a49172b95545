"""Outages and incidents in a report's window, from the typed incident rows; downtime is
clipped to the in-session intervals."""


from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from api.reports.sessions import Sessions
from api.reports.times import aware, clip, london, merge, minutes
from monitor.health import LABELS, Component
from monitor.incidents import IncidentKind
from monitor.settings import Settings
from monitor.store.models import (
    Incident,
)

OUTAGE_LOOKBACK = timedelta(days=1)  # an outage that began this long before a meeting counts


@dataclass(slots=True)
class Outage:
    start: datetime
    end: datetime | None
    detail: str


_KNOWN = {str(c) for c in Component}


def recording_components(settings: Settings) -> tuple[Component, ...]:
    """Whose outage means nothing was recorded: the gate, and in the mirror topology (where it
    is the only source) the passive sensor."""
    if settings.site.topology == "mirror":
        return (Component.GATE, Component.SENSOR)
    return (Component.GATE,)


def outages_in(conn: Connection | Session, room: str | None, lo: datetime, hi: datetime,
               now: datetime, recording: Sequence[Component] = (Component.GATE,)
               ) -> tuple[list[Outage], list[tuple[datetime, str]]]:
    """Downtime and incidents from the typed incident rows (kind, component, start, end,
    cause). Outages of a ``recording`` component are downtime (an open one runs to ``now``);
    every other incident in the period is listed, not counted."""
    q = select(Incident).where(Incident.started_at <= hi,
                               Incident.started_at >= lo - OUTAGE_LOOKBACK)
    if room is not None:
        q = q.where((Incident.room == room) | Incident.room.is_(None))
    counted = {str(c) for c in recording}
    spans: list[Outage] = []
    incidents: list[tuple[datetime, str]] = []
    for r in conn.execute(q.order_by(Incident.started_at, Incident.id)).scalars():
        a, b = aware(r.started_at), aware(r.ended_at) if r.ended_at is not None else None
        label = LABELS[Component(r.component)] if r.component in _KNOWN else r.component
        if r.kind == str(IncidentKind.OUTAGE) and r.component in counted:
            if (b or now) >= lo:
                detail = r.cause if r.component == Component.GATE else f"{label}: {r.cause}"
                spans.append(Outage(a, b, detail))
        elif lo <= a <= hi or (r.kind == str(IncidentKind.OUTAGE) and (b or now) >= lo):
            times = f" (×{r.count})" if r.count > 1 else ""
            if r.kind == str(IncidentKind.OUTAGE):
                incidents.append((a, f"{label} down: {r.cause}"))
            elif r.kind == str(IncidentKind.LOSS):
                incidents.append((a, r.cause + times))
            else:
                incidents.append((a, f"{label}: {r.cause}{times}"))
    spans.sort(key=lambda o: o.start)
    return spans, incidents


def outage_doc(outs: list[Outage], incidents: list[tuple[datetime, str]],
                sessions: Sessions, now: datetime) -> dict[str, Any]:
    spans = [(o.start, o.end or now) for o in outs]
    in_session = sum((b - a for a, b in sessions.intervals), timedelta(0))
    down = clip(merge(spans), sessions.intervals)
    uptime = None
    if in_session > timedelta(0):
        uptime = round(100.0 * (1 - down / in_session), 1)
    return {
        "uptime_percent": uptime,
        "outage_minutes": minutes(down),
        "outages": [{"start": london(o.start), "end": london(o.end), "end_recorded": o.end
                     is not None,
                     "minutes_in_session": minutes(clip([(o.start, o.end or now)],
                                                         sessions.intervals)),
                     "detail": o.detail} for o in outs],
        "incidents": [{"at": london(t), "detail": d} for t, d in incidents],
    }
