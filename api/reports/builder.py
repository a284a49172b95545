"""Build report documents from the database: one read, one JSON-ready dict per report.

The document is the report: HTML, PDF, CSV and JSON are drawn from it alone, so their
numbers cannot differ. Times inside the document are ISO 8601 in Europe/London (with the
offset, so they are unambiguous across the clock change); durations are whole minutes.

"During the meeting" is what the gate stamped on each event (``meeting_id``: the meeting in
session at that instant, by the same clock as enforcement). Outages carry no meeting, so they
are taken by time and clipped to the in-session intervals.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, selectinload

from allowlist.clock import ClerkAction
from allowlist.episodes import Episode
from allowlist.events import LOOKUP_KINDS, EventAction, EventKind
from api.meetings.overrun import ExemptionView, exemptions_of
from api.reports import method, query
from api.reports.components import component_rows
from api.reports.conditions import conditions_of
from api.reports.evidence import evidence_of, privacy_of
from api.reports.members import (
    identified_by,
    lookups_doc,
    members_of,
    names_by_episode,
    numbers_of,
    totals_of,
)
from api.reports.outages import outage_doc, outages_in, recording_components
from api.reports.schemas import SCHEMA
from api.reports.sessions import Sessions, sessions_of
from api.reports.times import aware, london, minutes
from monitor.evidence.episodes import rule_of
from monitor.settings import Settings
from monitor.store.models import (
    AuditRow,
    Device,
    Meeting,
    Member,
)

OUTAGE_LOOKBACK = timedelta(days=1)  # an outage that began this long before a meeting counts
class ReportError(LookupError):
    """The subject of a report does not exist (unknown meeting or member)."""


def _base(kind: str, settings: Settings, now: datetime, actor: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "kind": kind, "report_id": str(uuid.uuid4()),
            "generated_at": london(now), "generated_by": actor, "timezone": "Europe/London",
            "site": {"name": settings.site.name, "room": settings.site.room}}



# ---------------------------------------------------------------------------- meeting report
def _meeting_doc(m: Meeting, sessions: Sessions, grace: timedelta,
                 exceptions: Sequence[ExemptionView] = ()) -> dict[str, Any]:
    acts = sorted(m.clerk_actions, key=lambda a: aware(a.at))
    starts = [aware(a.at) for a in acts if a.action == ClerkAction.START.value]
    ends = [aware(a.at) for a in acts if a.action == ClerkAction.END.value]
    in_session = sum((b - a for a, b in sessions.intervals), timedelta(0))
    return {
        "id": m.id, "title": m.title, "committee": m.committee_title or m.title,
        "status": m.status, "in_scope": m.in_scope, "room": m.room, "location": m.location,
        "scheduled_start": london(m.start), "scheduled_end": london(m.end),
        "actual_start": london(starts[0]) if starts else None,
        "actual_end": london(ends[-1]) if ends else None,
        "clerk_actions": [{"action": a.action, "at": london(a.at), "by": a.by_user}
                          for a in acts],
        "extensions": [{"minutes": e.minutes, "at": london(e.at), "by": e.by_user}
                       for e in m.extensions],
        "exceptions": [{"who": e.who, "reason": e.reason, "granted_at": london(e.created_at),
                        "granted_by": e.created_by, "withdrawn_at": london(e.withdrawn_at),
                        "withdrawn_by": e.withdrawn_by} for e in exceptions],
        "session_source": sessions.source,
        "sessions": [{"start": london(a), "end": london(b), "minutes": minutes(b - a)}
                     for a, b in sessions.intervals],
        "in_session_minutes": minutes(in_session),
        "in_session_at_report": sessions.open_at_report,
        "grace_minutes": minutes(grace),
    }


def meeting_report(s: Session, settings: Settings, meeting_id: int, *,
                   now: datetime | None = None, actor: str = "cli",
                   lookups: bool = False) -> dict[str, Any]:
    """The per-meeting compliance report document; ``lookups``: with every single lookup
    (the per-lookup CSV's rows; tens of thousands on a busy evening, so only when asked)."""
    now = now or datetime.now(UTC)
    m = s.execute(select(Meeting).options(selectinload(Meeting.clerk_actions))
                  .where(Meeting.id == meeting_id)).scalar_one_or_none()
    if m is None:
        raise ReportError(f"there is no meeting {meeting_id}")
    grace = timedelta(minutes=settings.policy.grace_minutes)
    rule = rule_of(settings)
    sess = sessions_of(m, grace, now)
    lo = min([aware(m.start)] + [a for a, _ in sess.intervals])
    hi = max([aware(m.end)] + [b for _, b in sess.intervals])
    conn = s.connection()
    # Runs of lookups; every single one too when the appendix or the lookups CSV needs them.
    sc = query.scan_runs(conn, rule, "meeting_id = ?", [meeting_id], singles=lookups)
    tallies, eps, bypasses = sc.tallies, sc.episodes, sc.bypasses
    numbers = numbers_of(eps)
    # Presence beyond events: a member's device whose last sighting fell inside a session.
    extra: dict[int, set[int]] = defaultdict(set)
    dev_ids = {t.device_id for t in tallies if t.device_id is not None}
    devices: dict[int, Device] = {}
    q = select(Device).where(Device.member_id.is_not(None) | Device.id.in_(dev_ids))
    for d in s.execute(q).scalars():
        devices[d.id] = d
        if d.member_id is not None and d.last_seen is not None and any(
                a <= aware(d.last_seen) <= b for a, b in sess.intervals):
            extra[d.member_id].add(d.id)
    mids = {t.member_id for t in tallies if t.member_id is not None} | set(extra)
    members = {i: n for i, n in s.execute(select(Member.id, Member.name)
                                          .where(Member.id.in_(mids)))}
    names = names_by_episode(sc)
    member_docs = members_of(tallies, eps, numbers, bypasses, members, devices, extra,
                               names)
    registered = {int(r) for (r,) in s.execute(
        select(AuditRow.entity_id).where(AuditRow.entity == "device",
                                         AuditRow.action == "register", AuditRow.ts >= lo,
                                         AuditRow.ts <= hi)) if r and r.isdigit()}
    for md in member_docs:
        for d in md["devices"]:
            d["registered_during_meeting"] = d["device_id"] in registered
    outs, incidents = outages_in(s, m.room or settings.site.room, lo, hi, now,
                                  recording_components(settings))
    doc = _base("meeting", settings, now, actor)
    doc["subject"] = f"{m.committee_title or m.title}, {london(m.start)}"
    doc["meeting"] = _meeting_doc(m, sess, grace, exemptions_of(s, m.id))
    cond = conditions_of(s, settings, sess, lo, hi)
    cond["refused"] = sum(t.count for t in tallies if t.kind in LOOKUP_KINDS
                          and t.action == EventAction.REFUSED)
    cond["observed_only"] = sum(t.count for t in tallies if t.kind in LOOKUP_KINDS
                                and t.action == EventAction.OBSERVED)
    cond["gate"] = outage_doc(outs, incidents, sess, now)
    cond["components"] = component_rows(s, settings, m.room or settings.site.room,
                                        sess.intervals, now)
    cond["unregistered_devices_seen"] = sum(t.count for t in tallies
                                            if t.kind == EventKind.DEVICE_SEEN)
    cond["privacy"] = privacy_of(s, meeting_id)
    doc["conditions"] = cond
    doc["members"] = member_docs
    doc["totals"] = totals_of(member_docs, eps)
    if lookups:
        doc["lookups"] = lookups_doc(sc, numbers, members, devices)
    doc["window"] = {"start": london(lo), "end": london(hi)}
    doc["method"] = method.meeting_method(settings, cond)
    doc["evidence"] = evidence_of(conn, tallies)
    return doc


# ---------------------------------------------------------------------------- member report
def find_member(s: Session, name_or_id: str | int) -> Member:
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        m = s.get(Member, int(name_or_id))
        if m is not None:
            return m
    m = s.execute(select(Member).where(Member.name == str(name_or_id))).scalar_one_or_none()
    if m is None:
        found = s.execute(select(Member).where(
            Member.name.ilike(f"%{name_or_id}%"))).scalars().all()
        if len(found) == 1:
            return found[0]
        if found:
            raise ReportError(f"{name_or_id!r} matches {len(found)} members: "
                              + ", ".join(f.name for f in found))
        raise ReportError(f"there is no member {name_or_id!r}")
    return m


def member_report(s: Session, settings: Settings, member: str | int, since: datetime,
                  until: datetime, *, now: datetime | None = None,
                  actor: str = "cli") -> dict[str, Any]:
    """One member across a date range (for a complaint): per meeting, then totals."""
    now = now or datetime.now(UTC)
    mem = find_member(s, member)
    rule = rule_of(settings)
    grace = timedelta(minutes=settings.policy.grace_minutes)
    conn = s.connection()
    sc = query.scan_runs(conn, rule, "member_id = ? AND ts >= ? AND ts < ?",
                         [mem.id, since, until])
    tallies, eps, bypasses = sc.tallies, sc.episodes, sc.bypasses
    numbers = numbers_of(eps)
    contact_meetings = {t.meeting_id for t in tallies
                        if t.meeting_id is not None and t.kind in LOOKUP_KINDS}
    meetings = {m.id: m for m in s.execute(
        select(Meeting).options(selectinload(Meeting.clerk_actions))
        .where(Meeting.id.in_(contact_meetings))).scalars()}
    devices = {d.id: d for d in s.execute(select(Device).where(
        (Device.member_id == mem.id) | Device.id.in_({t.device_id for t in tallies
                                                      if t.device_id is not None}))).scalars()}
    per_meeting = []
    empty = {"episodes": 0, "opened": 0, "background": 0, "lookups": 0,
             "bypass_attempts": 0, "platforms": [],
             "episode_list": [], "bypass_list": [], "devices": [], "first": None,
             "last": None, "other_refused": 0}
    for mid in sorted(contact_meetings, key=lambda i: (aware(meetings[i].start)
                                                       if i in meetings else now, i)):
        docs = members_of([t for t in tallies if t.meeting_id == mid],
                            [e for e in eps if query.meeting_of(e) == mid], numbers,
                            [b for b in bypasses if b.meeting_id == mid], {mem.id: mem.name},
                            devices, {})
        entry = docs[0] if docs else empty
        m = meetings.get(mid)
        sess = sessions_of(m, grace, now) if m is not None else Sessions([], "schedule", False)
        per_meeting.append({
            "meeting_id": mid,
            "committee": (m.committee_title or m.title) if m is not None else "(removed)",
            "title": m.title if m is not None else "",
            "scheduled_start": london(m.start) if m is not None else None,
            "in_session_minutes": minutes(sum((b - a for a, b in sess.intervals),
                                              timedelta(0))),
            **{k: entry[k] for k in ("episodes", "opened", "background", "lookups",
                                     "bypass_attempts",
                                     "other_refused", "first", "last", "platforms",
                                     "episode_list", "bypass_list", "devices")},
        })
    totals = totals_of(per_meeting, [e for e in eps if query.meeting_of(e) is not None])
    totals.pop("members_listed")
    totals.pop("members_with_contacts")
    totals["meetings_with_contacts"] = sum(1 for p in per_meeting
                                           if p["episodes"] or p["bypass_attempts"])
    totals["events_outside_meetings"] = sum(t.count for t in tallies
                                            if t.meeting_id is None and t.kind in LOOKUP_KINDS)
    doc = _base("member", settings, now, actor)
    doc["subject"] = f"{mem.name}, {london(since)} to {london(until)}"
    doc["member"] = {"id": mem.id, "name": mem.name, "active": mem.active,
                     "devices": [{"device_id": d.id, "label": d.label or d.mac, "mac": d.mac,
                                  "identified_by": identified_by(d),
                                  "registered_to_member_now": d.member_id == mem.id}
                                 for d in sorted(devices.values(), key=lambda d: d.id)]}
    doc["period"] = {"from": london(since), "to": london(until)}
    doc["meetings"] = per_meeting
    doc["totals"] = totals
    return _with_range_conditions(doc, s=s, conn=conn, settings=settings, tallies=tallies)


def _with_range_conditions(doc: dict[str, Any], *, s: Session, conn: Connection,
                           settings: Settings, tallies: list[query.Tally]) -> dict[str, Any]:
    """The closing sections of a member or site report (a date range, not one meeting): the
    conditions as configured now (a range spans changes; each meeting's own are in its
    report), the method and the chain evidence."""
    doc["conditions"] = {"topology": settings.site.topology,
                         "topology_title": method.TOPOLOGY[settings.site.topology][0],
                         "privacy": privacy_of(s, None)}
    doc["method"] = method.range_method(settings, doc["conditions"]["privacy"])
    doc["evidence"] = evidence_of(conn, tallies)
    return doc


# ---------------------------------------------------------------------------- site summary
def site_report(s: Session, settings: Settings, since: datetime, until: datetime, *,
                now: datetime | None = None, actor: str = "cli") -> dict[str, Any]:
    """Every meeting of this room in the period: totals, gate uptime, and per member."""
    now = now or datetime.now(UTC)
    rule = rule_of(settings)
    grace = timedelta(minutes=settings.policy.grace_minutes)
    meetings = [m for m in s.execute(
        select(Meeting).options(selectinload(Meeting.clerk_actions))
        .where(Meeting.start >= since, Meeting.start < until, Meeting.removed_at.is_(None))
        .order_by(Meeting.start, Meeting.id)).scalars()
        if m.room in (None, settings.site.room)]
    ids = [m.id for m in meetings]
    conn = s.connection()
    tallies: list[query.Tally] = []
    eps: list[Episode] = []
    if ids:
        sc = query.scan_runs(conn, rule, f"meeting_id IN ({', '.join('?' * len(ids))})", ids)
        tallies, eps = sc.tallies, sc.episodes
    outs, incidents = outages_in(s, settings.site.room, since, until, now,
                                  recording_components(settings))
    mrows = []
    for m in meetings:
        sess = sessions_of(m, grace, now)
        mt = [t for t in tallies if t.meeting_id == m.id]
        me = [e for e in eps if query.meeting_of(e) == m.id]
        gate = outage_doc([o for o in outs if any(
            (o.end or now) >= a and o.start <= b for a, b in sess.intervals)], [], sess, now)
        mrows.append({
            "meeting_id": m.id, "committee": m.committee_title or m.title, "title": m.title,
            "scheduled_start": london(m.start), "status": m.status, "in_scope": m.in_scope,
            "in_session_minutes": minutes(sum((b - a for a, b in sess.intervals),
                                              timedelta(0))),
            "members_with_contacts": len({e.member_id for e in me if e.member_id}
                                         | {t.member_id for t in mt if t.kind == EventKind.BYPASS
                                            and t.member_id}),
            "episodes": len(me), "opened": sum(e.opened for e in me),
            "lookups": sum(e.lookups for e in me),
            "bypass_attempts": sum(t.count for t in mt if t.kind == EventKind.BYPASS),
            "outage_minutes": gate["outage_minutes"], "uptime_percent": gate["uptime_percent"],
        })
    names = {i: n for i, n in s.execute(select(Member.id, Member.name))}
    per_member: dict[int, dict[str, Any]] = {}

    def member(mid: int) -> dict[str, Any]:
        e = per_member.get(mid)
        if e is None:
            e = per_member[mid] = {"member_id": mid, "name": names.get(mid, "?"),
                                   "meetings": set(), "episodes": 0, "opened": 0,
                                   "lookups": 0, "bypass_attempts": 0}
        return e

    for ep in eps:
        if ep.member_id is not None:
            e = member(ep.member_id)
            e["episodes"] += 1
            e["opened"] += ep.opened
            e["lookups"] += ep.lookups
            e["meetings"].update(ep.meeting_ids)
    for t in tallies:
        if t.kind == EventKind.BYPASS and t.member_id is not None:
            e = member(t.member_id)
            e["bypass_attempts"] += t.count
            if t.meeting_id is not None:
                e["meetings"].add(t.meeting_id)
    members = [{**e, "meetings": len(e["meetings"])} for e in
               sorted(per_member.values(), key=lambda e: str(e["name"]).casefold())]
    totals = totals_of([], eps)
    totals.pop("members_listed")
    totals["members_with_contacts"] = len(members)
    totals["bypass_attempts"] = sum(m["bypass_attempts"] for m in mrows)
    totals["meetings"] = len(meetings)
    totals["outage_minutes"] = sum(m["outage_minutes"] for m in mrows)
    doc = _base("site", settings, now, actor)
    doc["subject"] = f"{settings.site.name} ({settings.site.room}), {london(since)} to " \
                     f"{london(until)}"
    doc["period"] = {"from": london(since), "to": london(until)}
    doc["meetings"] = mrows
    doc["members"] = members
    doc["totals"] = totals
    doc["incidents"] = [{"at": london(t), "detail": d} for t, d in incidents]
    return _with_range_conditions(doc, s=s, conn=conn, settings=settings, tallies=tallies)
