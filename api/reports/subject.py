"""A member's subject-access export: everything chamberguard holds about them.

UK GDPR Art. 15: the member row, every device registered to them (or that their events
were attributed to), the registration codes issued to them (never the code's hash), every
event attributed to them or their devices, the episodes grouped from those events, and the
audit rows about the member or those devices. JSON, or CSV with one row per item.
Producing an export is itself recorded in the audit trail (by the caller's service).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from allowlist.episodes import group_episodes
from allowlist.events import EventKind
from allowlist.wording import EpisodeFacts, episode_sentence
from api.events.service import describe, platform_names
from api.reports.builder import find_member
from api.reports.times import ZONE, london
from monitor.csvout import write_csv
from monitor.evidence.episodes import rule_of
from monitor.settings import Settings
from monitor.store.models import AuditRow, Device, Event, RegistrationCode

SCHEMA = "chamberguard-subject-access/1"


def _audit_mentions(row: AuditRow, member_id: int, device_ids: set[int]) -> bool:
    if row.entity == "member" and row.entity_id == str(member_id):
        return True
    if row.entity == "device":
        if row.entity_id is not None and row.entity_id.isdigit() \
                and int(row.entity_id) in device_ids:
            return True
        for side in (row.before, row.after):
            if isinstance(side, dict) and side.get("member_id") == member_id:
                return True
    return False


def export(s: Session, settings: Settings, member: str | int, *,
           now: datetime | None = None, actor: str = "cli") -> dict[str, Any]:
    """The export document (JSON-ready)."""
    now = now or datetime.now(UTC)
    mem = find_member(s, member)
    devices = {d.id: d for d in s.execute(select(Device).where(Device.member_id == mem.id))
               .scalars()}
    ev_rows = list(s.execute(select(Event).where(or_(
        Event.member_id == mem.id,
        Event.device_id.in_(list(devices)) if devices else Event.id < 0))
        .order_by(Event.id)).scalars())
    for did in {e.device_id for e in ev_rows if e.device_id is not None} - set(devices):
        d = s.get(Device, did)
        if d is not None:
            devices[did] = d
    names = platform_names()
    labels = {d.id: d.label or d.mac for d in devices.values()}
    events = [{
        "id": e.id, "ts": london(e.ts), "kind": e.kind, "action": e.action, "room": e.room,
        "mac": e.mac, "device_id": e.device_id, "device": labels.get(e.device_id or -1),
        "member_id": e.member_id, "meeting_id": e.meeting_id, "domain": e.domain,
        "platform": e.platform, "category": e.category, "channels": e.channels,
        "rule": e.rule, "detail": e.detail,
        "text": describe(e.kind, e.action, e.platform, e.domain,
                         labels.get(e.device_id or -1), mem.name
                         if e.member_id == mem.id else None, e.detail, e.channels),
        "hash": e.hash} for e in ev_rows]
    rule = rule_of(settings)
    eps = group_episodes([e for e in ev_rows if e.kind == EventKind.ATTEMPT and e.platform
                          and e.member_id == mem.id], rule.gap, rule.opened)
    episodes = [{"device": labels.get(ep.device_id or -1, ep.mac), "platform": ep.platform,
                 "platform_name": names.get(ep.platform, ep.platform),
                 "first": london(ep.first), "last": london(ep.last), "lookups": ep.lookups,
                 "label": ep.label.value, "text": episode_sentence(
                     EpisodeFacts.of(ep, names.get(ep.platform, ep.platform)), mem.name,
                     labels.get(ep.device_id or -1, ep.mac)),
                 "meeting_ids": sorted(ep.meeting_ids)} for ep in eps]
    codes = [{"id": c.id, "created_at": london(c.created_at), "created_by": c.created_by,
              "expires_at": london(c.expires_at), "used_at": london(c.used_at),
              "device_id": c.device_id}
             for c in s.execute(select(RegistrationCode).where(
                 RegistrationCode.member_id == mem.id).order_by(RegistrationCode.id)).scalars()]
    dev_ids = set(devices)
    audit = [{"id": a.id, "ts": london(a.ts), "actor": a.actor, "action": a.action,
              "entity": a.entity, "entity_id": a.entity_id, "before": a.before,
              "after": a.after}
             for a in s.execute(select(AuditRow).where(AuditRow.entity.in_(("member",
                                                                            "device")))
                                .order_by(AuditRow.id)).scalars()
             if _audit_mentions(a, mem.id, dev_ids)]
    return {
        "schema": SCHEMA, "generated_at": london(now), "generated_by": actor,
        "site": {"name": settings.site.name, "room": settings.site.room},
        "timezone": "Europe/London",
        "retention": {"events_days": settings.retention.events_days,
                      "reports_years": settings.retention.reports_years},
        "member": {"id": mem.id, "name": mem.name, "email": mem.email, "active": mem.active,
                   "created_at": london(mem.created_at)},
        "devices": [{"id": d.id, "mac": d.mac, "label": d.label, "randomised": d.randomised,
                     "hostname": d.hostname, "created_at": london(d.created_at),
                     "last_seen": london(d.last_seen), "last_ip": d.last_ip,
                     "registered_to_member_now": d.member_id == mem.id}
                    for d in sorted(devices.values(), key=lambda d: d.id)],
        "registration_codes": codes,
        "events": events,
        "episodes": episodes,
        "audit": audit,
        "counts": {"devices": len(devices), "events": len(events),
                   "episodes": len(episodes), "audit": len(audit)},
    }


def to_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")


def to_csv(doc: dict[str, Any]) -> bytes:
    """One table: ``section`` names what a row is, ``data`` holds its fields as JSON-free
    ``key=value`` pairs, so a spreadsheet shows every item on its own row. Written through
    :func:`monitor.csvout.write_csv`, which neutralises formula prefixes in every cell."""

    def pairs(d: dict[str, Any]) -> str:
        return "; ".join(f"{k}={'' if v is None else v}" for k, v in d.items())

    rows: list[tuple[object, ...]] = []
    m = doc["member"]
    rows.append(("member", m["id"], m["created_at"], m["name"], pairs(m)))
    for d in doc["devices"]:
        rows.append(("device", d["id"], d["created_at"], d["label"] or d["mac"], pairs(d)))
    for c in doc["registration_codes"]:
        rows.append(("registration-code", c["id"], c["created_at"], "code issued", pairs(c)))
    for e in doc["events"]:
        rows.append(("event", e["id"], e["ts"], e["text"], pairs(e)))
    for i, ep in enumerate(doc["episodes"], 1):
        rows.append(("episode", i, ep["first"], ep["text"], pairs(ep)))
    for a in doc["audit"]:
        rows.append(("audit", a["id"], a["ts"], f"{a['action']} {a['entity']}",
                     pairs({k: json.dumps(v) if isinstance(v, dict) else v
                            for k, v in a.items()})))
    return write_csv(("section", "id", f"when ({ZONE})", "what", "data"), rows)
