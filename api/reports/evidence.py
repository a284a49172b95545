"""What ties a report to the evidence: the chain position it covers and the privacy level its
events were stored under."""


from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from api.events.service import platform_names
from api.reports import query
from api.reports.times import london
from monitor.evidence import chain
from monitor.evidence.privacy import LEVEL_TEXT, privacy_level_for_meeting, site_level
from monitor.store.models import (
    MeetingPrivacy,
    MeetingTotal,
    Member,
)


def evidence_of(conn: Connection, tallies: list[query.Tally]) -> dict[str, Any]:
    """What ties the report to the chain: the last event it covers and the chain head."""
    last_id = max((t.last_id for t in tallies), default=None)
    snap = chain.snapshot(conn, last_id)
    return {"events_covered": sum(t.count for t in tallies),
            "first_event_id": min((t.first_id for t in tallies), default=None),
            "last_event_id": last_id, "last_event_hash": snap.covered_hash,
            "chain_head_id": snap.head_id, "chain_head_hash": snap.head_hash,
            "chain_anchor_hash": snap.anchor_hash,
            "chain_anchor_event_id": snap.anchor_event_id}


def privacy_of(s: Session, meeting_id: int | None) -> dict[str, Any]:
    """The privacy level the report's events were stored under (monitor.evidence.privacy);
    for a meeting whose events became totals ("counts"), when and the totals kept."""
    conn = s.connection()
    level = (privacy_level_for_meeting(conn, meeting_id) if meeting_id is not None
             else site_level(conn))
    out: dict[str, Any] = {"level": level.value, "text": LEVEL_TEXT[level],
                           "scope": "this meeting" if meeting_id is not None
                           else "in force when the report was made"}
    mp = s.get(MeetingPrivacy, meeting_id) if meeting_id is not None else None
    if mp is not None and mp.collapsed_at is not None:
        names = platform_names()
        members = dict(s.execute(select(Member.id, Member.name)).all())
        out["collapsed_at"] = london(mp.collapsed_at)
        out["collapsed_events"] = mp.collapsed_events
        out["totals"] = [{"member": members.get(t.member_id, "(no member)")
                          if t.member_id is not None else "(no member)",
                          "kind": t.kind, "action": t.action,
                          "platform": names.get(t.platform or "", t.platform),
                          "events": t.events} for t in s.execute(
            select(MeetingTotal).where(MeetingTotal.meeting_id == meeting_id)
            .order_by(MeetingTotal.member_id, MeetingTotal.kind, MeetingTotal.platform))
            .scalars()]
    return out
