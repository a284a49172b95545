"""Meetings: manual creation, clerk actions, listing. (Imports from modern.gov/iCal: sync.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from allowlist.clock import ClerkAction, SessionState
from api.audit.service import record
from api.errors import Invalid, NotFound
from api.site.conditions import record_conditions
from monitor.settings import Settings
from monitor.store.models import ClerkActionRow, Meeting
from monitor.store.policy_loader import meeting_clock
from monitor.store.revision import bump_revision
from monitor.store.types import utcnow

# Which clerk actions make sense from which state (the buttons the dashboard offers).
ALLOWED_FROM: dict[ClerkAction, set[SessionState]] = {
    ClerkAction.START: {SessionState.SCHEDULED, SessionState.ENDED, SessionState.IN_SESSION},
    ClerkAction.ADJOURN: {SessionState.IN_SESSION},
    ClerkAction.RESUME: {SessionState.ADJOURNED},
    ClerkAction.END: {SessionState.IN_SESSION, SessionState.ADJOURNED, SessionState.SCHEDULED},
}


def meeting_dict(m: Meeting, *, grace: timedelta, now: datetime | None = None) -> dict[str, object]:
    now = now or utcnow()
    clock = meeting_clock(m)
    return {
        "id": m.id, "title": m.title, "committee": m.committee_title, "source": m.source,
        "source_id": m.source_id, "start": m.start.isoformat(), "end": m.end.isoformat(),
        "status": m.status, "room": m.room, "location": m.location, "in_scope": m.in_scope,
        "state": clock.state(now, grace).value,
        "clerk_actions": [{"action": a.action, "at": a.at.isoformat(), "by": a.by_user}
                          for a in m.clerk_actions],
    }


def create_meeting(s: Session, *, title: str, start: datetime, end: datetime,
                   room: str | None = None, committee_title: str = "", actor: str) -> Meeting:
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("meeting times must carry a time zone")
    if end <= start:
        raise Invalid("a meeting must end after it starts")
    if not title.strip():
        raise Invalid("meeting title is empty")
    m = Meeting(source="manual", title=title.strip(), committee_title=committee_title or title,
                start=start, end=end, room=room)
    s.add(m)
    s.flush()
    record(s, actor=actor, action="create", entity="meeting", entity_id=m.id,
           after={"title": m.title, "start": start.isoformat(), "end": end.isoformat(),
                  "room": room})
    bump_revision(s)
    return m


def get_meeting(s: Session, *, meeting_id: int) -> Meeting:
    m = s.execute(select(Meeting).options(selectinload(Meeting.clerk_actions))
                  .where(Meeting.id == meeting_id)).scalar_one_or_none()
    if m is None:
        raise NotFound(f"no meeting {meeting_id}")
    return m


def clerk_action(s: Session, *, meeting_id: int, action: ClerkAction, actor: str, grace: timedelta,
                 at: datetime | None = None, settings: Settings | None = None) -> Meeting:
    """The clerk's start/adjourn/resume/end; with ``settings``, a start or resume also
    records the conditions in force (topology, mode, gate and sensor) for the report."""
    m = get_meeting(s, meeting_id=meeting_id)
    at = at or utcnow()
    state = meeting_clock(m).state(at, grace)
    if state is SessionState.CANCELLED:
        raise Invalid("this meeting is cancelled")
    if state not in ALLOWED_FROM[action]:
        raise Invalid(f"cannot {action.value} a meeting that is {state.value}")
    s.add(ClerkActionRow(meeting_id=m.id, action=action.value, at=at, by_user=actor))
    record(s, actor=actor, action=f"clerk-{action.value}", entity="meeting", entity_id=m.id,
           before={"state": state.value}, after={"action": action.value, "at": at.isoformat()})
    bump_revision(s)
    s.flush()
    if settings is not None and action in (ClerkAction.START, ClerkAction.RESUME):
        record_conditions(s, settings, actor=actor, reason=f"meeting {action.value}",
                          meeting_id=m.id, now=at, always=True)
    s.refresh(m)
    return m


def list_meetings(s: Session, *, start: datetime | None = None, end: datetime | None = None,
                  limit: int = 500) -> list[Meeting]:
    q = select(Meeting).options(selectinload(Meeting.clerk_actions)).order_by(Meeting.start)
    if start is not None:
        q = q.where(Meeting.end >= start)
    if end is not None:
        q = q.where(Meeting.start <= end)
    return list(s.execute(q.limit(limit)).scalars())


def search_meetings(s: Session, *, limit: int, offset: int, start: datetime | None = None,
                    end: datetime | None = None, room: str | None = None,
                    status: str | None = None, in_scope: bool | None = None
                    ) -> tuple[list[Meeting], int]:
    """Meetings overlapping [start, end], filtered, in start order, with the total count."""
    q = select(Meeting)
    if start is not None:
        q = q.where(Meeting.end >= start)
    if end is not None:
        q = q.where(Meeting.start <= end)
    if room is not None:
        q = q.where(Meeting.room == room)
    if status is not None:
        q = q.where(Meeting.status == status)
    if in_scope is not None:
        q = q.where(Meeting.in_scope.is_(in_scope))
    total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = s.execute(q.options(selectinload(Meeting.clerk_actions))
                     .order_by(Meeting.start, Meeting.id).limit(limit).offset(offset)).scalars()
    return list(rows), total
