"""A small chamber for the dashboard tests: users of every role, two members with devices,
one meeting later today, an unregistered device, and helpers to record events and gate
heartbeats the way the gate would (same tables, same columns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.auth.roles import Role
from api.devices.service import register_device
from api.meetings.service import create_meeting
from api.members.service import create_member
from api.users.service import create_user
from monitor.counters import GateCounters, GateStats
from monitor.events import EventAction, EventKind, EventRecord, EventWriter
from monitor.heartbeat import SensorState, write_heartbeat
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import Device
from tests.factories import web_settings

PASSWORD = "correct horse battery"
USERS = {Role.CLERK: "clerk", Role.IT_ADMIN: "it", Role.MONITORING_OFFICER: "officer",
         Role.VIEWER: "viewer"}
ADA, GRACE = "Cllr Ada Lovelace", "Cllr Grace Hopper"
ADA_MAC, GRACE_MAC = "02:00:5e:10:00:01", "00:1b:63:84:45:e6"
STRANGER_MAC = "da:a1:19:00:00:07"  # locally administered: a phone's private address


@dataclass
class Seeded:
    settings: Settings
    db: Database
    ids: dict[str, int] = field(default_factory=dict)


def make_settings(data_dir: Path, extra: str = "") -> Settings:
    return web_settings(data_dir, extra)


def seed(data_dir: Path, *, extra: str = "", now: datetime | None = None) -> Seeded:
    now = now or datetime.now(UTC)
    settings = make_settings(data_dir, extra)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    out = Seeded(settings, db)
    with db.session() as s:
        for role, name in USERS.items():
            out.ids[name] = create_user(s, username=name, password=PASSWORD, role=role,
                                        actor="seed").id
        ada = create_member(s, name=ADA, actor="seed")
        grace = create_member(s, name=GRACE, actor="seed")
        out.ids["ada"], out.ids["grace"] = ada.id, grace.id
        d1 = register_device(s, mac=ADA_MAC, member_id=ada.id, label="iPad", actor="seed")
        d1.last_seen = now
        d2 = register_device(s, mac=GRACE_MAC, member_id=grace.id, label="Phone", actor="seed")
        out.ids["ada_device"], out.ids["grace_device"] = d1.id, d2.id
        stranger = Device(mac=STRANGER_MAC, label="", randomised=True, hostname="Jos-iPhone",
                          last_seen=now - timedelta(minutes=3), last_ip="198.51.100.77")
        s.add(stranger)
        s.flush()
        out.ids["stranger"] = stranger.id
        m = create_meeting(s, title="Full Council", committee_title="Council",
                           start=now + timedelta(hours=1), end=now + timedelta(hours=4),
                           actor="seed")
        out.ids["meeting"] = m.id
    return out


def heartbeat(db: Database, room: str = "chamber", *, enforcing: bool = True,
              at: datetime | None = None, components: dict | None = None) -> None:
    """What the gate writes every few seconds."""
    at = at or datetime.now(UTC)
    with db.session() as s:
        write_heartbeat(s, room, pid=4242, started_at=at - timedelta(hours=2), now=at,
                        enforcing=enforcing, sensor=SensorState.OFF,
                        counters=GateCounters(GateStats(queries=120, refused=7)),
                        components=components or {})


def attempt(db: Database, *, member_id: int, device_id: int, mac: str, meeting_id: int | None,
            platform: str = "instagram", domain: str = "www.instagram.com",
            kind: str = "attempt", detail: str | None = None,
            ts: datetime | None = None) -> None:
    """One event, written by the gate's own writer (monitor.events.EventWriter): the same
    insert path, uid and (where there is one) hash chain as in the chamber."""
    is_attempt = kind == "attempt"
    rec = EventRecord(
        ts=ts or datetime.now(UTC), kind=EventKind(kind), action=EventAction.REFUSED,
        room="chamber", mac=mac, device_id=device_id, member_id=member_id,
        meeting_id=meeting_id, domain=domain, platform=platform if is_attempt else None,
        category="platform" if is_attempt else "bypass", channels="dns",
        rule=f"{domain} (catalogue)", detail=detail)
    writer = EventWriter(db, room="chamber")
    writer.start()
    try:
        assert writer.submit(rec)
        assert writer.flush(10.0), "the event writer did not commit in time"
    finally:
        writer.stop()
