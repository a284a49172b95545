"""Episodes from the database: the query side of :mod:`allowlist.episodes`.

Reports, the dashboard and the API ask for a meeting, a member, or a time range; this selects
the platform lookups (``attempt`` events with a platform) in time order — using the
(meeting, member, ts) or (kind, ts) index — and hands them to the one pure grouping, with the
gap and the opened rule from the settings (:func:`rule_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from allowlist.episodes import Episode, LookupRow, OpenedRule, group_episodes
from allowlist.events import EventKind
from monitor.settings import Settings
from monitor.store.models import Event

# A meeting of 40 members' phones syncing all evening is well under this.
MAX_LOOKUPS = 1_000_000


@dataclass(frozen=True, slots=True)
class EpisodeRule:
    """The installation's episode rule: the gap, and what counts as likely opened."""

    gap: timedelta
    opened: OpenedRule


def rule_of(settings: Settings) -> EpisodeRule:
    p = settings.policy
    return EpisodeRule(timedelta(minutes=p.episode_gap_minutes),
                       OpenedRule(p.opened_min_hosts, timedelta(seconds=p.opened_within_seconds)))


def platform_lookups(s: Session, *, meeting_id: int | None = None, member_id: int | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     room: str | None = None, limit: int = MAX_LOOKUPS) -> list[LookupRow]:
    """Attempt events with a platform, oldest first. ``until`` is exclusive."""
    q = (select(Event.ts, Event.platform, Event.device_id, Event.mac, Event.member_id,
                Event.meeting_id, Event.domain, Event.channels, Event.action, Event.id)
         .where(Event.kind == EventKind.ATTEMPT, Event.platform.is_not(None)))
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
    return [LookupRow(ts, plat, dev, mac, mem, mtg, dom, ch or "dns", act, eid)
            for ts, plat, dev, mac, mem, mtg, dom, ch, act, eid in s.execute(q)]


def query_episodes(s: Session, *, rule: EpisodeRule, meeting_id: int | None = None,
                   member_id: int | None = None, since: datetime | None = None,
                   until: datetime | None = None, room: str | None = None) -> list[Episode]:
    return group_episodes(
        platform_lookups(s, meeting_id=meeting_id, member_id=member_id, since=since,
                         until=until, room=room),
        rule.gap, rule.opened)
