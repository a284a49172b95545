"""The "counts" privacy level's second step: a meeting's events become totals.

Once a meeting recorded under ``counts`` is over and its report has been signed, its events
are replaced by per member totals (``meeting_totals``: member, kind, action, platform,
number — no times, devices or names) and deleted, in one transaction under the event
insert lock.

The hash chain stays verifiable. Deleting rows from the middle of the chain would break the
link of the next retained event, so each maximal run of consecutive deleted events leaves a
``chain_gaps`` row — the hash the run followed and the hash of its last event, like the
anchor a retention purge leaves for a prefix. ``verify-chain`` steps over a gap only from
exactly the one hash to exactly the other, so removing or altering any event that is not in
a recorded gap is still detected, and it says how many events the gaps account for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select, update

from monitor.evidence import sink
from monitor.evidence.privacy import PrivacyLevel, parse
from monitor.store.db import Database
from monitor.store.models import (
    AuditRow,
    ChainGap,
    Event,
    IssuedReport,
    Meeting,
    MeetingPrivacy,
    MeetingTotal,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Run:
    first_id: int
    last_id: int
    events: int
    prev_hash: str
    last_hash: str


@dataclass(frozen=True, slots=True)
class Collapsed:
    meeting_id: int
    events: int  # events deleted
    totals: int  # total rows written
    gaps: int  # chain gap rows written


def runs(rows: Sequence[tuple[int, int | None, str | None, str | None]], meeting_id: int
         ) -> list[Run]:
    """Maximal runs of consecutive chained rows (``id, meeting_id, prev_hash, hash`` in id
    order) that belong to ``meeting_id``. Pure: the tests feed it shapes directly."""
    out: list[Run] = []
    cur: list[tuple[int, str, str]] = []

    def close() -> None:
        if cur:
            out.append(Run(cur[0][0], cur[-1][0], len(cur), cur[0][1], cur[-1][2]))
            cur.clear()

    for eid, mid, prev, h in rows:
        if mid == meeting_id and prev is not None and h is not None:
            cur.append((eid, prev, h))
        else:
            close()
    close()
    return out


def collapse_meeting(conn: Connection, meeting_id: int, *, actor: str,
                     report_id: str | None = None, now: datetime | None = None) -> Collapsed:
    """Turn a ``counts`` meeting's events into totals, in the caller's transaction (which
    must commit it). Does nothing to a meeting recorded at another level."""
    now = now or datetime.now(UTC)
    sink.lock(conn)
    lv = conn.execute(select(MeetingPrivacy.level)
                      .where(MeetingPrivacy.meeting_id == meeting_id)).scalar()
    if lv is None or parse(lv) is not PrivacyLevel.COUNTS:
        return Collapsed(meeting_id, 0, 0, 0)
    span = conn.execute(select(func.min(Event.id), func.max(Event.id))
                        .where(Event.meeting_id == meeting_id)).first()
    if span is None or span[0] is None:
        return Collapsed(meeting_id, 0, 0, 0)
    groups = conn.execute(
        select(Event.member_id, Event.kind, Event.action, Event.platform, Event.category,
               func.count()).where(Event.meeting_id == meeting_id)
        .group_by(Event.member_id, Event.kind, Event.action, Event.platform,
                  Event.category)).all()
    window = conn.execute(select(Event.id, Event.meeting_id, Event.prev_hash, Event.hash)
                          .where(Event.id >= span[0], Event.id <= span[1])
                          .order_by(Event.id)).all()
    found = runs([(int(r[0]), r[1], r[2], r[3]) for r in window], meeting_id)
    if found:
        conn.execute(insert(ChainGap), [
            {"meeting_id": meeting_id, "first_event_id": r.first_id,
             "last_event_id": r.last_id, "events": r.events, "prev_hash": r.prev_hash,
             "last_hash": r.last_hash, "created_at": now} for r in found])
    conn.execute(insert(MeetingTotal), [
        {"meeting_id": meeting_id, "member_id": g[0], "kind": g[1], "action": g[2],
         "platform": g[3], "category": g[4], "events": int(g[5])} for g in groups])
    n = int(conn.execute(delete(Event).where(Event.meeting_id == meeting_id)).rowcount)
    conn.execute(update(MeetingPrivacy).where(MeetingPrivacy.meeting_id == meeting_id).values(
        collapsed_at=now, collapsed_events=MeetingPrivacy.collapsed_events + n,
        collapsed_by_report=report_id))
    conn.execute(insert(AuditRow).values(
        ts=now, actor=actor[:100], action="collapse-events", entity="meeting",
        entity_id=str(meeting_id), before={"events": n},
        after={"privacy_level": PrivacyLevel.COUNTS.value, "totals": len(groups),
               "chain_gaps": len(found), "report_id": report_id}))
    log.info("meeting %d: %d events became %d totals (counts privacy level)", meeting_id, n,
             len(groups))
    return Collapsed(meeting_id, n, len(groups), len(found))


def due(conn: Connection, now: datetime, grace: timedelta) -> list[tuple[int, str]]:
    """``counts`` meetings that are over, have a signed meeting report and still hold
    events: (meeting id, report id). The daily purge collapses them — late events replayed
    from a gate's spool after the report, or a collapse that a crash interrupted."""
    held = select(Event.meeting_id).where(Event.meeting_id.is_not(None)).distinct()
    cand = {int(m) for m, lv in conn.execute(
        select(MeetingPrivacy.meeting_id, MeetingPrivacy.level)
        .where(MeetingPrivacy.meeting_id.in_(held)))
        if parse(lv) is PrivacyLevel.COUNTS}
    if not cand:
        return []
    ends = {int(i): end for i, end in conn.execute(
        select(Meeting.id, Meeting.end).where(Meeting.id.in_(cand)))}
    out: dict[int, str] = {}
    for rid, params, at in conn.execute(select(IssuedReport.id, IssuedReport.params,
                                               IssuedReport.generated_at)
                                        .where(IssuedReport.kind == "meeting")):
        mid = (params or {}).get("meeting_id")
        if not isinstance(mid, int) or mid not in ends:
            continue
        end = _aware(ends[mid]) + grace
        if _aware(at) >= end and end < now:
            out.setdefault(mid, str(rid))
    return sorted(out.items())


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def collapse_after_report(db: Database, meeting_id: int, *, report_id: str, actor: str,
                          report_covers_whole_meeting: bool) -> Collapsed:
    """Called when a meeting report is signed: under ``counts``, a report of the whole
    meeting (made after it ended) turns its events into totals at once."""
    if not report_covers_whole_meeting:
        return Collapsed(meeting_id, 0, 0, 0)
    with db.engine.begin() as conn:
        return collapse_meeting(conn, meeting_id, actor=actor, report_id=report_id)


def collapse_due(db: Database, grace: timedelta, *, actor: str,
                 now: datetime | None = None) -> list[Collapsed]:
    """Collapse every meeting :func:`due` names, one transaction each."""
    now = now or datetime.now(UTC)
    with db.engine.connect() as conn:
        todo = due(conn, now, grace)
        conn.rollback()
    out = []
    for mid, rid in todo:
        with db.engine.begin() as conn:
            out.append(collapse_meeting(conn, mid, actor=actor, report_id=rid, now=now))
    return out
