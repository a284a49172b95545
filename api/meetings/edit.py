"""IT's changes to one meeting: times and room, cancel, delete (manual meetings only).

Every change is audited with before/after and bumps the policy revision, so the gate's
meeting clock follows within a second or two. Deleting is for a meeting entered by mistake:
an imported meeting comes back with the next sync (cancel it at the source), and a meeting
with recorded events or clerk actions is evidence — cancel it instead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.errors import Conflict, Invalid
from api.meetings.service import get_meeting
from monitor.store.models import Event, Meeting, MeetingExemptionRow, MeetingExtensionRow
from monitor.store.revision import bump_revision


def _snap(m: Meeting) -> dict[str, object]:
    return {"start": m.start.isoformat(), "end": m.end.isoformat(), "room": m.room,
            "status": m.status}


def update_meeting(s: Session, *, meeting_id: int, start: datetime, end: datetime,
                   room: str | None, actor: str) -> Meeting:
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("meeting times must carry a time zone")
    if end <= start:
        raise Invalid("a meeting must end after it starts")
    m = get_meeting(s, meeting_id=meeting_id)
    before = _snap(m)
    m.start, m.end, m.room = start, end, (room or "").strip() or None
    m.end_guessed = False  # IT has set (or confirmed) the end
    s.flush()
    record(s, actor=actor, action="update", entity="meeting", entity_id=m.id, before=before,
           after=_snap(m))
    bump_revision(s)
    return m


def cancel_meeting(s: Session, *, meeting_id: int, actor: str) -> Meeting:
    m = get_meeting(s, meeting_id=meeting_id)
    if m.status == "cancelled":
        raise Conflict("the meeting is already cancelled")
    before = _snap(m)
    m.status = "cancelled"
    s.flush()
    record(s, actor=actor, action="cancel", entity="meeting", entity_id=m.id, before=before,
           after=_snap(m))
    bump_revision(s)
    return m


def delete_meeting(s: Session, *, meeting_id: int, actor: str) -> None:
    m = get_meeting(s, meeting_id=meeting_id)
    if m.source != "manual":
        raise Conflict("only meetings entered by hand can be deleted; an imported meeting "
                       "comes back with the next import (cancel it instead)")
    events = s.execute(select(func.count()).select_from(Event)
                       .where(Event.meeting_id == m.id)).scalar_one()
    if m.clerk_actions or events:
        raise Conflict("the meeting has clerk actions or recorded events (evidence): "
                       "cancel it instead")
    before = _snap(m) | {"title": m.title}
    s.execute(delete(MeetingExtensionRow).where(MeetingExtensionRow.meeting_id == m.id))
    s.execute(delete(MeetingExemptionRow).where(MeetingExemptionRow.meeting_id == m.id))
    s.delete(m)
    s.flush()
    record(s, actor=actor, action="delete", entity="meeting", entity_id=meeting_id,
           before=before)
    bump_revision(s)
