"""Episodes from the database: the query side of :mod:`allowlist.episodes`.

Reports and the dashboard ask for a meeting, a member, or a time range; this selects the
platform lookups (``attempt`` events with a platform) in time order — using the
(meeting, member, ts) or (kind, ts) index — and hands them to the pure grouping.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from allowlist.episodes import Episode, LookupRow, group_episodes
from monitor.store.models import Event

# A meeting of 40 members' phones syncing all evening is well under this.
MAX_LOOKUPS = 1_000_000


def platform_lookups(s: Session, *, meeting_id: int | None = None, member_id: int | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     room: str | None = None, limit: int = MAX_LOOKUPS) -> list[LookupRow]:
    """Attempt events with a platform, oldest first. ``until`` is exclusive."""
    q = (select(Event.ts, Event.platform, Event.device_id, Event.mac, Event.member_id,
                Event.meeting_id, Event.domain)
         .where(Event.kind == "attempt", Event.platform.is_not(None)))
    if meeting_id is not None:
        q = q.where(Event.meeting_id == meeting_id)
    if member_id is not None:
        q = q.where(Event.member_id == member_id)
    if since is not None:
        q = q.where(Event.ts >= since)
    if until is not None:
        q = q.where(Event.ts < until)
    if room is not None:
        q = q.where(Event.room == room)
    q = q.order_by(Event.ts, Event.id).limit(limit)
    return [LookupRow(*r) for r in s.execute(q)]


def query_episodes(s: Session, *, gap: timedelta, meeting_id: int | None = None,
                   member_id: int | None = None, since: datetime | None = None,
                   until: datetime | None = None, room: str | None = None) -> list[Episode]:
    return group_episodes(
        platform_lookups(s, meeting_id=meeting_id, member_id=member_id, since=since,
                         until=until, room=room),
        gap)
