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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, selectinload

from allowlist import wording
from allowlist.categories import Mode
from allowlist.clock import CLERK_SESSION_CAP, LONDON, ClerkAction
from allowlist.episodes import Episode
from allowlist.identity import IdentitySource
from api.events.service import platform_names
from api.meetings.overrun import ExemptionView, exemptions_of
from api.rules.risk import flagged_rules
from dashboard.reports import method, query
from dashboard.reports.components import component_rows
from monitor.evidence import chain
from monitor.evidence.episodes import rule_of
from monitor.evidence.privacy import LEVEL_TEXT, privacy_level_for_meeting, site_level
from monitor.health import LABELS, Component
from monitor.incidents import IncidentKind
from monitor.settings import Settings
from monitor.store.models import (
    AuditRow,
    Device,
    Incident,
    Meeting,
    MeetingPrivacy,
    MeetingTotal,
    Member,
)
from monitor.store.policy_loader import site_mode

SCHEMA = "chamberguard-report/1"
OUTAGE_LOOKBACK = timedelta(days=1)  # an outage that began this long before a meeting counts


class ReportError(LookupError):
    """The subject of a report does not exist (unknown meeting or member)."""


# ---------------------------------------------------------------------------- small helpers
def aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def london(t: datetime | None) -> str | None:
    """ISO 8601 in Europe/London, to the second, with its offset.

    A report writes a thousand or more of these (every episode's start and end), and
    ``astimezone`` + ``isoformat`` cost 2 µs each: for a UTC time, the local "date T hour"
    and the offset are looked up per UTC hour (London changes offset only on the hour, and
    :func:`_hour_parts` refuses any hour where that is not so) and the minutes and seconds,
    the same in both zones then, are appended."""
    if t is None:
        return None
    if t.tzinfo is UTC:
        key = (t.year, t.month, t.day, t.hour)
        parts = _HOURS.get(key, _UNSEEN)
        if parts is _UNSEEN:
            if len(_HOURS) > 50_000:
                _HOURS.clear()
            parts = _HOURS[key] = _hour_parts(t)
        if parts is not None:
            return parts[0] + _MIN_SEC[t.minute * 60 + t.second] + parts[1]
    return aware(t).astimezone(LONDON).isoformat(timespec="seconds")


_HOURS: dict[tuple[int, int, int, int], tuple[str, str] | None] = {}
_UNSEEN: Any = object()
_MIN_SEC = [f":{m:02d}:{s:02d}" for m in range(60) for s in range(60)]


def _hour_parts(t: datetime) -> tuple[str, str] | None:
    """("YYYY-MM-DDTHH" local, "+HH:MM") for the UTC hour of ``t``, or None when the hour's
    local minutes and seconds are not the UTC ones (an offset change inside the hour, or an
    offset that is not whole hours, such as London's mean time before 1847)."""
    h0 = t.replace(minute=0, second=0, microsecond=0)
    a = h0.astimezone(LONDON)
    try:
        b = (h0 + timedelta(hours=1, microseconds=-1)).astimezone(LONDON)
    except OverflowError:
        return None
    if a.utcoffset() != b.utcoffset() or (a.minute, a.second) != (0, 0):
        return None
    text = a.isoformat(timespec="seconds")
    return text[:13], text[19:]


def minutes(d: timedelta) -> int:
    return int(round(d.total_seconds() / 60))


def _merge(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _clip(intervals: Sequence[tuple[datetime, datetime]],
          within: Sequence[tuple[datetime, datetime]]) -> timedelta:
    total = timedelta(0)
    for a, b in intervals:
        for c, d in within:
            lo, hi = max(a, c), min(b, d)
            if hi > lo:
                total += hi - lo
    return total


def _base(kind: str, settings: Settings, now: datetime, actor: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "kind": kind, "report_id": str(uuid.uuid4()),
            "generated_at": london(now), "generated_by": actor, "timezone": "Europe/London",
            "site": {"name": settings.site.name, "room": settings.site.room}}


# ---------------------------------------------------------------------------- meeting clock
@dataclass(frozen=True, slots=True)
class Sessions:
    intervals: list[tuple[datetime, datetime]]
    source: str  # "clerk" | "schedule" | "cancelled"
    open_at_report: bool  # still in session when the report was made


def sessions_of(m: Meeting, grace: timedelta, now: datetime) -> Sessions:
    """In-session intervals, with the same semantics as allowlist.clock.MeetingClock.state:
    the clerk's actions if any (start/resume open, adjourn/end close; a session left open ends
    at the later of first action + 12 h and scheduled end + grace), else schedule ± grace."""
    if m.status == "cancelled":
        return Sessions([], "cancelled", False)
    acts = sorted(((ClerkAction(a.action), aware(a.at)) for a in m.clerk_actions
                   if aware(a.at) <= now), key=lambda x: x[1])
    # The clerk's overrun extensions move the scheduled end (allowlist.clock.end_at).
    end = aware(m.end) + timedelta(minutes=sum(e.minutes for e in m.extensions
                                               if aware(e.at) <= now))
    if not acts:
        lo, hi = aware(m.start) - grace, end + grace
        if lo >= now:
            return Sessions([], "schedule", False)
        return Sessions([(lo, min(hi, now))], "schedule", hi > now)
    out: list[tuple[datetime, datetime]] = []
    opened: datetime | None = None
    for action, at in acts:
        if action in (ClerkAction.START, ClerkAction.RESUME):
            opened = opened or at
        elif opened is not None:
            out.append((opened, at))
            opened = None
    still_open = False
    if opened is not None:
        closes = max(acts[0][1] + CLERK_SESSION_CAP, end + grace)
        still_open = closes > now
        out.append((opened, min(closes, now)))
    return Sessions(out, "clerk", still_open)


# ---------------------------------------------------------------------------- outages
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


def _outage_doc(outs: list[Outage], incidents: list[tuple[datetime, str]],
                sessions: Sessions, now: datetime) -> dict[str, Any]:
    spans = [(o.start, o.end or now) for o in outs]
    in_session = sum((b - a for a, b in sessions.intervals), timedelta(0))
    down = _clip(_merge(spans), sessions.intervals)
    uptime = None
    if in_session > timedelta(0):
        uptime = round(100.0 * (1 - down / in_session), 1)
    return {
        "uptime_percent": uptime,
        "outage_minutes": minutes(down),
        "outages": [{"start": london(o.start), "end": london(o.end), "end_recorded": o.end
                     is not None,
                     "minutes_in_session": minutes(_clip([(o.start, o.end or now)],
                                                         sessions.intervals)),
                     "detail": o.detail} for o in outs],
        "incidents": [{"at": london(t), "detail": d} for t, d in incidents],
    }


# ---------------------------------------------------------------------------- mode history
def mode_history(s: Session, settings: Settings
                 ) -> tuple[list[tuple[datetime, str, str, str]], Mode]:
    """(at, from, to, by) of every site-mode change from the audit trail, and the mode now."""
    rows = s.execute(select(AuditRow).where(AuditRow.action == "set-mode",
                                            AuditRow.entity == "site").order_by(AuditRow.ts))
    out = []
    for r in rows.scalars():
        before = (r.before or {}).get("mode")
        after = (r.after or {}).get("mode")
        if before and after:
            out.append((aware(r.ts), str(before), str(after), r.actor))
    return out, site_mode(s, settings)


def mode_at(history: list[tuple[datetime, str, str, str]], now_mode: Mode, t: datetime) -> str:
    last = [h for h in history if h[0] <= t]
    if last:
        return last[-1][2]
    if history:
        return history[0][1]
    return now_mode.value


# Audit entities whose changes affect what is refused or recorded (rules, presets, the
# platform catalogue, devices, the site mode, committee scope, learn-mode exceptions).
POLICY_ENTITIES = ("rule", "preset", "platform", "device", "site", "committee")


def _change_text(r: AuditRow) -> str:
    """One audit row in plain words: what changed (the before/after that matter)."""
    side = r.after if isinstance(r.after, dict) else (r.before if isinstance(r.before, dict)
                                                       else {})
    what = {"rule": lambda d: f"rule for {d.get('domain')} ({d.get('category')}"
                              + (", this name only" if d.get("exact") else "") + ")",
            "preset": lambda d: f"preset {r.entity_id}",
            "platform": lambda d: f"platform {r.entity_id} domains "
                                  f"{', '.join(d.get('domains') or []) or d.get('domain', '')}",
            "device": lambda d: f"device {d.get('label') or d.get('mac') or r.entity_id}"
                                + (f" (member {d.get('member_id')})"
                                   if d.get("member_id") else ""),
            "site": lambda d: "site mode " + " → ".join(
                str(x.get("mode")) for x in (r.before, r.after) if isinstance(x, dict)),
            "committee": lambda d: f"committee scope {r.entity_id}: "
                                   f"{'in' if d.get('in_scope') else 'out'}"}
    text = what.get(r.entity, lambda d: f"{r.entity} {r.entity_id or ''}")(side)
    return f"{r.action}: {text}"


def _recorded_at(r: AuditRow) -> datetime:
    """When a conditions row describes (the clerk's action time it was taken for), else
    when it was written."""
    at = (r.after or {}).get("at") if isinstance(r.after, dict) else None
    try:
        return aware(datetime.fromisoformat(str(at))) if at else aware(r.ts)
    except ValueError:
        return aware(r.ts)


def _conditions(s: Session, settings: Settings, sessions: Sessions, lo: datetime,
                hi: datetime) -> dict[str, Any]:
    """The conditions as they were: mode at the start and its changes, the topology, gate
    and sensor state recorded at the start and on each change (api.site.conditions), every
    policy change in the window with who and when, and rules allowing a platform or a
    public suffix that were active."""
    history, now_mode = mode_history(s, settings)
    start = sessions.intervals[0][0] if sessions.intervals else lo
    changes = [{"at": london(at), "from": a, "to": b, "by": by}
               for at, a, b, by in history if lo <= at <= hi]
    rows = list(s.execute(select(AuditRow).where(AuditRow.ts <= hi).where(
        (AuditRow.ts >= lo) | (AuditRow.action == "conditions")).order_by(AuditRow.ts,
                                                                             AuditRow.id))
        .scalars())
    cond_rows = [(_recorded_at(r), r) for r in rows
                 if r.action == "conditions" and isinstance(r.after, dict)]
    at_start = [(t, r) for t, r in cond_rows if t <= start]
    recorded = at_start[-1][1].after if at_start else None
    cond_changes = [{"at": london(t), "by": r.actor, **{k: dict(r.after or {}).get(k)
                                                        for k in ("topology", "mode", "gate",
                                                                  "enforcing", "sensor",
                                                                  "reason")}}
                    for t, r in cond_rows if t > start and t >= lo]
    policy = [{"at": london(r.ts), "by": r.actor, "entity": r.entity, "action": r.action,
               "text": _change_text(r),
               "effect": (r.after or {}).get("effect") if isinstance(r.after, dict) else None}
              for r in rows if r.entity in POLICY_ENTITIES and r.action != "conditions"
              and aware(r.ts) >= lo]
    topology = str(recorded["topology"]) if recorded else settings.site.topology
    flagged = [{"domain": r.domain, "category": r.category, "exact": r.exact,
                "effect": eff, "created_at": london(r.created_at)}
               for r, eff in flagged_rules(s) if aware(r.created_at) <= hi]
    return {"mode_at_start": mode_at(history, now_mode, start), "mode_changes": changes,
            "topology": topology,
            "topology_title": method.TOPOLOGY.get(topology, (topology, ""))[0],
            "topology_note": (f"recorded at {london(at_start[-1][0])} "
                              f"({recorded.get('reason')})" if recorded else
                              "not recorded at the meeting's start: as configured when the "
                              "report was made"),
            "recorded_at_start": {k: recorded.get(k) for k in ("topology", "mode", "gate",
                                                               "enforcing", "sensor")}
            if recorded else None,
            "condition_changes": cond_changes, "policy_changes": policy,
            "rules_allowing_platforms": flagged}


# ---------------------------------------------------------------------------- events → members
CONTACT = query.CONTACT


def _names_of(ep: Episode, by_id: dict[int, query.EventRow]) -> list[dict[str, Any]]:
    """The names an episode looked up: how often, first and last time (the appendix)."""
    per: dict[str, list[Any]] = {}
    for eid in ep.event_ids:
        r = by_id.get(eid)
        if r is None or not r.domain:
            continue
        x = per.get(r.domain)
        if x is None:
            per[r.domain] = [1, r.ts, r.ts, {r.channels}]
        else:
            x[0] += 1
            x[2] = r.ts
            x[3].add(r.channels)
    return [{"name": d, "lookups": n, "first": london(a), "last": london(b),
             "channels": ",".join(sorted(ch))}
            for d, (n, a, b, ch) in sorted(per.items(), key=lambda kv: (kv[1][1], kv[0]))]


def identified_by(d: Device | None) -> str:
    """Which source ties the device to its member, in the report's words (a device with no
    row was attributed by the MAC the gate saw)."""
    return IdentitySource(d.identity).text if d is not None else IdentitySource.MAC_ONLY.text


def episode_doc(ep: Episode, number: int, device: str, member: str | None,
                by_id: dict[int, query.EventRow] | None = None) -> dict[str, Any]:
    """One episode as the report shows it: facts, label and its sentence (allowlist.wording)."""
    name = platform_names().get(ep.platform, ep.platform)
    facts = wording.EpisodeFacts.of(ep, name)
    out = {"number": number, "device": device, "platform": ep.platform, "name": name,
           "start": london(ep.first), "end": london(ep.last), "lookups": ep.lookups,
           "minutes": minutes(ep.last - ep.first), "seconds": ep.seconds,
           "hosts": len(ep.domains), "channels": sorted(ep.channels),
           "connection_attempted": ep.connection, "reached_platform": ep.reached,
           "label": ep.label.value, "label_text": wording.label_text(ep.label),
           "what": wording.episode_verb(facts),
           "text": wording.episode_sentence(facts, member, device)}
    if by_id is not None:
        out["names"] = _names_of(ep, by_id)
    return out


def _member_docs(tallies: list[query.Tally], eps: list[Episode], numbers: dict[int, int],
                 bypasses: list[query.EventRow], members: dict[int, str],
                 devices: dict[int, Device], extra_present: dict[int, set[int]],
                 by_id: dict[int, query.EventRow] | None = None) -> list[dict[str, Any]]:
    """Per member: devices with their evidence of presence, episodes (likely opened first)
    and lookups per platform, other DNS services used, first/last record, and the episode
    list (for the timeline and the appendix). ``numbers``: id(episode) → its number."""
    names = platform_names()
    by_member: dict[int, dict[str, Any]] = {}

    def entry(mid: int) -> dict[str, Any]:
        e = by_member.get(mid)
        if e is None:
            e = {"member_id": mid, "name": members.get(mid, f"Member {mid} (removed)"),
                 "devices": {}, "platforms": {}, "episodes": 0, "opened": 0, "lookups": 0,
                 "bypass_attempts": 0, "other_refused": 0, "first": None, "last": None,
                 "episode_list": [], "bypass_list": []}
            by_member[mid] = e
        return e

    def device(e: dict[str, Any], device_id: int | None, mac: str | None, why: str) -> str:
        d = devices.get(device_id) if device_id is not None else None
        key = str(device_id) if device_id is not None else f"mac:{mac}"
        got = e["devices"].get(key)
        if got is None:
            label = (d.label or d.mac) if d is not None else (mac or "unknown device")
            got = e["devices"][key] = {"device_id": device_id, "label": label,
                                       "mac": d.mac if d is not None else mac,
                                       "identified_by": identified_by(d),
                                       "evidence": []}
        if why not in got["evidence"]:
            got["evidence"].append(why)
        return str(got["label"])

    for t in tallies:
        if t.member_id is None or t.kind not in CONTACT:
            continue
        e = entry(t.member_id)
        device(e, t.device_id, t.mac, "recorded events")
        if e["first"] is None or t.first < e["first"]:
            e["first"] = t.first
        if e["last"] is None or t.last > e["last"]:
            e["last"] = t.last
        if t.kind == "bypass":
            e["bypass_attempts"] += t.count
        elif not t.platform:
            e["other_refused"] += t.count
    for r in bypasses:
        if r.member_id is None:
            continue
        e = entry(r.member_id)
        e["bypass_list"].append({
            "at": london(r.ts), "device": device(e, r.device_id, r.mac, "recorded events"),
            "text": wording.lookup_phrase("bypass", r.action, None, r.domain, r.channels,
                                          r.detail),
            "blocked": r.action == "refused"})
    for mid, device_ids in extra_present.items():
        e = entry(mid)
        for did in sorted(device_ids):
            device(e, did, None, "last seen on the chamber Wi-Fi during the meeting")
    for ep in eps:
        if ep.member_id is None:
            continue
        e = entry(ep.member_id)
        name = names.get(ep.platform, ep.platform)
        p = e["platforms"].get(ep.platform)
        if p is None:
            p = e["platforms"][ep.platform] = {"platform": ep.platform, "name": name,
                                               "episodes": 0, "opened": 0, "lookups": 0,
                                               "first": ep.first, "last": ep.last}
        p["episodes"] += 1
        p["opened"] += ep.opened
        p["lookups"] += ep.lookups
        if ep.first < p["first"]:
            p["first"] = ep.first
        if ep.last > p["last"]:
            p["last"] = ep.last
        e["episodes"] += 1
        e["opened"] += ep.opened
        e["lookups"] += ep.lookups
        e["episode_list"].append((device(e, ep.device_id, ep.mac, "recorded events"), ep))
    out = []
    for e in sorted(by_member.values(), key=lambda e: str(e["name"]).casefold()):
        episode_list = [episode_doc(ep, numbers.get(id(ep), 0), label, e["name"], by_id)
                        for label, ep in e["episode_list"]]
        if by_id is not None:  # the names each platform's background episodes looked up
            for key, p in e["platforms"].items():
                counts: dict[str, int] = {}
                for ed in episode_list:
                    if ed["platform"] == key and ed["label"] != "opened":
                        for n in ed["names"]:
                            counts[n["name"]] = counts.get(n["name"], 0) + n["lookups"]
                p["background_names"] = [{"name": k, "lookups": v} for k, v in sorted(
                    counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        plats = sorted(e["platforms"].values(),
                       key=lambda p: (-p["opened"], -p["episodes"], p["name"]))
        out.append({
            "member_id": e["member_id"], "name": e["name"],
            "devices": sorted(e["devices"].values(), key=lambda d: str(d["label"])),
            "episodes": e["episodes"], "opened": e["opened"],
            "background": e["episodes"] - e["opened"], "lookups": e["lookups"],
            "bypass_attempts": e["bypass_attempts"], "other_refused": e["other_refused"],
            "first": london(e["first"]), "last": london(e["last"]),
            "platforms": [{**p, "background": p["episodes"] - p["opened"],
                           "first": london(p["first"]), "last": london(p["last"])}
                          for p in plats],
            "episode_list": episode_list,
            "background_lookups": sum(ed["lookups"] for ed in episode_list
                                      if ed["label"] != "opened"),
            "bypass_list": e["bypass_list"],
        })
    return out


def _totals(member_docs: list[dict[str, Any]], eps: list[Episode]) -> dict[str, Any]:
    names = platform_names()
    plats: dict[str, dict[str, Any]] = {}
    for ep in eps:
        p = plats.get(ep.platform)
        if p is None:
            p = plats[ep.platform] = {"platform": ep.platform,
                                      "name": names.get(ep.platform, ep.platform),
                                      "episodes": 0, "opened": 0, "lookups": 0}
        p["episodes"] += 1
        p["opened"] += ep.opened
        p["lookups"] += ep.lookups
    for p in plats.values():
        p["background"] = p["episodes"] - p["opened"]
    episodes = sum(p["episodes"] for p in plats.values())
    opened = sum(p["opened"] for p in plats.values())
    return {
        "members_listed": len(member_docs),
        "members_with_contacts": sum(1 for m in member_docs
                                     if m["episodes"] or m["bypass_attempts"]),
        "episodes": episodes, "opened": opened, "background": episodes - opened,
        "lookups": sum(p["lookups"] for p in plats.values()),
        "bypass_attempts": sum(m["bypass_attempts"] for m in member_docs),
        "platforms": sorted(plats.values(),
                            key=lambda p: (-p["opened"], -p["episodes"], p["name"])),
    }


def _lookups_doc(sc: query.Scan, numbers: dict[int, int], members: dict[int, str],
                 devices: dict[int, Device]) -> list[dict[str, Any]]:
    """Every lookup (platform attempts and other DNS services) with its episode number:
    the per-lookup CSV and the JSON carry it; covered by the report's signature."""
    names = platform_names()
    ep_number = {i: numbers.get(id(ep), 0) for i, ep in enumerate(sc.episodes)}
    out = []
    for r in sc.lookups:
        d = devices.get(r.device_id) if r.device_id is not None else None
        i = sc.episode_of.get(r.id)
        out.append({
            "id": r.id, "at": london(r.ts),
            "device": (d.label or d.mac) if d is not None else (r.mac or ""),
            "member": members.get(r.member_id, "") if r.member_id is not None else "",
            "name": r.domain or "", "platform": names.get(r.platform, r.platform)
            if r.platform else "",
            "kind": "other DNS service" if r.kind == "bypass" else "platform",
            "verdict": wording.verdict(r.action, r.channels), "channel": r.channels,
            "episode": ep_number[i] if i is not None else None})
    return out


def _numbers(eps: list[Episode]) -> dict[int, int]:
    """Episode numbers (1, 2, …) in order of first lookup, keyed by ``id(episode)``."""
    return {id(ep): n for n, ep in enumerate(eps, 1)}


def _evidence(conn: Connection, tallies: list[query.Tally]) -> dict[str, Any]:
    """What ties the report to the chain: the last event it covers and the chain head."""
    last_id = max((t.last_id for t in tallies), default=None)
    snap = chain.snapshot(conn, last_id)
    return {"events_covered": sum(t.count for t in tallies),
            "first_event_id": min((t.first_id for t in tallies), default=None),
            "last_event_id": last_id, "last_event_hash": snap.covered_hash,
            "chain_head_id": snap.head_id, "chain_head_hash": snap.head_hash,
            "chain_anchor_hash": snap.anchor_hash,
            "chain_anchor_event_id": snap.anchor_event_id}


def _privacy(s: Session, meeting_id: int | None) -> dict[str, Any]:
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
    sc = query.scan(conn, rule, "meeting_id = ?", [meeting_id])
    tallies, eps, bypasses = sc.tallies, sc.episodes, sc.bypasses
    numbers = _numbers(eps)
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
    by_id = {r.id: r for r in sc.lookups}
    member_docs = _member_docs(tallies, eps, numbers, bypasses, members, devices, extra,
                               by_id)
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
    cond = _conditions(s, settings, sess, lo, hi)
    cond["refused"] = sum(t.count for t in tallies if t.kind in CONTACT
                          and t.action == "refused")
    cond["observed_only"] = sum(t.count for t in tallies if t.kind in CONTACT
                                and t.action == "observed")
    cond["gate"] = _outage_doc(outs, incidents, sess, now)
    cond["components"] = component_rows(s, settings, m.room or settings.site.room,
                                        sess.intervals, now)
    cond["unregistered_devices_seen"] = sum(t.count for t in tallies
                                            if t.kind == "device-seen")
    cond["privacy"] = _privacy(s, meeting_id)
    doc["conditions"] = cond
    doc["members"] = member_docs
    doc["totals"] = _totals(member_docs, eps)
    if lookups:
        doc["lookups"] = _lookups_doc(sc, numbers, members, devices)
    doc["window"] = {"start": london(lo), "end": london(hi)}
    doc["method"] = method.meeting_method(settings, cond)
    doc["evidence"] = _evidence(conn, tallies)
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
    sc = query.scan(conn, rule, "member_id = ? AND ts >= ? AND ts < ?", [mem.id, since, until])
    tallies, eps, bypasses = sc.tallies, sc.episodes, sc.bypasses
    numbers = _numbers(eps)
    contact_meetings = {t.meeting_id for t in tallies
                        if t.meeting_id is not None and t.kind in CONTACT}
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
        docs = _member_docs([t for t in tallies if t.meeting_id == mid],
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
    totals = _totals(per_meeting, [e for e in eps if query.meeting_of(e) is not None])
    totals.pop("members_listed")
    totals.pop("members_with_contacts")
    totals["meetings_with_contacts"] = sum(1 for p in per_meeting
                                           if p["episodes"] or p["bypass_attempts"])
    totals["events_outside_meetings"] = sum(t.count for t in tallies
                                            if t.meeting_id is None and t.kind in CONTACT)
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
    doc["conditions"] = {"topology": settings.site.topology,
                         "topology_title": method.TOPOLOGY[settings.site.topology][0],
                         "privacy": _privacy(s, None)}
    doc["method"] = method.range_method(settings, doc["conditions"]["privacy"])
    doc["evidence"] = _evidence(conn, tallies)
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
        sc = query.scan(conn, rule, f"meeting_id IN ({', '.join('?' * len(ids))})", ids)
        tallies, eps = sc.tallies, sc.episodes
    outs, incidents = outages_in(s, settings.site.room, since, until, now,
                                  recording_components(settings))
    mrows = []
    for m in meetings:
        sess = sessions_of(m, grace, now)
        mt = [t for t in tallies if t.meeting_id == m.id]
        me = [e for e in eps if query.meeting_of(e) == m.id]
        gate = _outage_doc([o for o in outs if any(
            (o.end or now) >= a and o.start <= b for a, b in sess.intervals)], [], sess, now)
        mrows.append({
            "meeting_id": m.id, "committee": m.committee_title or m.title, "title": m.title,
            "scheduled_start": london(m.start), "status": m.status, "in_scope": m.in_scope,
            "in_session_minutes": minutes(sum((b - a for a, b in sess.intervals),
                                              timedelta(0))),
            "members_with_contacts": len({e.member_id for e in me if e.member_id}
                                         | {t.member_id for t in mt if t.kind == "bypass"
                                            and t.member_id}),
            "episodes": len(me), "opened": sum(e.opened for e in me),
            "lookups": sum(e.lookups for e in me),
            "bypass_attempts": sum(t.count for t in mt if t.kind == "bypass"),
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
        if t.kind == "bypass" and t.member_id is not None:
            e = member(t.member_id)
            e["bypass_attempts"] += t.count
            if t.meeting_id is not None:
                e["meetings"].add(t.meeting_id)
    members = [{**e, "meetings": len(e["meetings"])} for e in
               sorted(per_member.values(), key=lambda e: str(e["name"]).casefold())]
    totals = _totals([], eps)
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
    doc["conditions"] = {"topology": settings.site.topology,
                         "topology_title": method.TOPOLOGY[settings.site.topology][0],
                         "privacy": _privacy(s, None)}
    doc["method"] = method.range_method(settings, doc["conditions"]["privacy"])
    doc["evidence"] = _evidence(conn, tallies)
    return doc
