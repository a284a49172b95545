"""The clerk's in-meeting decisions other than start/adjourn/resume/end: extending an
overrunning meeting, and exceptions for a member or one device. Each bumps the policy
revision, so the gate reloads its snapshot (and applies the change) within a second or two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from allowlist.clock import EXTENSION_STEPS, LONDON
from api.audit.service import record
from api.errors import Conflict, Invalid, NotFound
from api.meetings.service import get_meeting
from monitor.store.models import Device, MeetingExemptionRow, MeetingExtensionRow, Member
from monitor.store.policy_loader import meeting_clock
from monitor.store.revision import bump_revision
from monitor.store.types import utcnow

EXTEND_MINUTES = tuple(int(step.total_seconds() // 60) for step in EXTENSION_STEPS)
REASON_MAX = 300


def extend_meeting(s: Session, *, meeting_id: int, minutes: int, actor: str,
                   grace: timedelta, at: datetime | None = None) -> MeetingExtensionRow:
    if minutes not in EXTEND_MINUTES:
        raise Invalid(f"a meeting is extended by {' or '.join(map(str, EXTEND_MINUTES))} "
                      "minutes")
    m = get_meeting(s, meeting_id=meeting_id)
    at = at or utcnow()
    clock = meeting_clock(m)
    if not clock.can_extend(at, grace):
        raise Invalid("a meeting can be extended only while in session, from 10 minutes "
                      "before its scheduled end")
    before = clock.end_at(at)
    row = MeetingExtensionRow(meeting_id=m.id, minutes=minutes, at=at, by_user=actor)
    s.add(row)
    after = before + timedelta(minutes=minutes)
    record(s, actor=actor, action="clerk-extend", entity="meeting", entity_id=m.id,
           before={"end": before.astimezone(LONDON).isoformat()},
           after={"end": after.astimezone(LONDON).isoformat(), "minutes": minutes})
    bump_revision(s)
    s.flush()
    return row


@dataclass(frozen=True, slots=True)
class ExemptionView:
    id: int
    who: str  # the member, or "the member's device (label)"
    member_id: int | None
    device_id: int | None
    reason: str
    created_at: datetime
    created_by: str
    withdrawn_at: datetime | None
    withdrawn_by: str | None


def grant_exemption(s: Session, *, meeting_id: int, actor: str, reason: str,
                    member_id: int | None = None, device_id: int | None = None
                    ) -> MeetingExemptionRow:
    reason = " ".join(reason.split())
    if not reason:
        raise Invalid("give the reason for the exception (the chair's decision, a reasonable "
                      "adjustment…)")
    if len(reason) > REASON_MAX:
        raise Invalid(f"the reason is longer than {REASON_MAX} characters")
    if (member_id is None) == (device_id is None):
        raise Invalid("choose a member or one device")
    m = get_meeting(s, meeting_id=meeting_id)
    if device_id is not None:
        dev = s.get(Device, device_id)
        if dev is None or dev.member_id is None:
            raise NotFound(f"no member device {device_id}")
    elif s.get(Member, member_id) is None:
        raise NotFound(f"no member {member_id}")
    dup = s.execute(select(MeetingExemptionRow).where(
        MeetingExemptionRow.meeting_id == m.id, MeetingExemptionRow.withdrawn_at.is_(None),
        MeetingExemptionRow.member_id.is_(None) if member_id is None
        else MeetingExemptionRow.member_id == member_id,
        MeetingExemptionRow.device_id.is_(None) if device_id is None
        else MeetingExemptionRow.device_id == device_id)).first()
    if dup is not None:
        raise Conflict("that exception is already granted for this meeting")
    row = MeetingExemptionRow(meeting_id=m.id, member_id=member_id, device_id=device_id,
                              reason=reason, created_at=utcnow(), created_by=actor)
    s.add(row)
    s.flush()
    record(s, actor=actor, action="grant-exception", entity="meeting", entity_id=m.id,
           after={"exception": row.id, "member_id": member_id, "device_id": device_id,
                  "reason": reason})
    bump_revision(s)
    return row


def withdraw_exemption(s: Session, *, meeting_id: int, exemption_id: int,
                       actor: str) -> MeetingExemptionRow:
    row = s.get(MeetingExemptionRow, exemption_id)
    if row is None or row.meeting_id != meeting_id:
        raise NotFound(f"no exception {exemption_id} for meeting {meeting_id}")
    if row.withdrawn_at is not None:
        raise Conflict("that exception was already withdrawn")
    row.withdrawn_at, row.withdrawn_by = utcnow(), actor
    record(s, actor=actor, action="withdraw-exception", entity="meeting", entity_id=meeting_id,
           before={"exception": row.id, "reason": row.reason})
    bump_revision(s)
    s.flush()
    return row


def exemptions_of(s: Session, meeting_id: int) -> list[ExemptionView]:
    """Every exception of a meeting, standing and withdrawn, oldest first (for the live page
    and the report)."""
    rows = s.execute(select(MeetingExemptionRow)
                     .where(MeetingExemptionRow.meeting_id == meeting_id)
                     .order_by(MeetingExemptionRow.id)).scalars().all()
    out = []
    for r in rows:
        if r.device_id is not None:
            dev = s.get(Device, r.device_id)
            owner = s.get(Member, dev.member_id) if dev and dev.member_id else None
            who = (f"{owner.name if owner else 'A member'}'s device "
                   f"({(dev.label or dev.mac) if dev else r.device_id})")
        else:
            mem = s.get(Member, r.member_id)
            who = mem.name if mem else f"Member {r.member_id}"
        out.append(ExemptionView(r.id, who, r.member_id, r.device_id, r.reason, r.created_at,
                                 r.created_by, r.withdrawn_at, r.withdrawn_by))
    return out
