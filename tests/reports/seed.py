"""The golden meeting: fixed times on a British Summer Time evening, two members with three
devices, contacts across platforms (including the episode gap's exact edge), bypass
attempts, an unregistered device, a gate outage, and the clerk starting, adjourning,
resuming and ending. Every event goes through the real sink (store_now), so it is chained.

All times below are UTC; London is UTC+1 on 10 June 2026.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from allowlist.clock import ClerkAction
from api.devices.service import register_device
from api.meetings.service import clerk_action, create_meeting
from api.members.service import create_member
from monitor.events import EventAction, EventKind, EventRecord, store_now
from monitor.health import Component
from monitor.incidents import IncidentKind, IncidentNote, write_incidents
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import Device
from tests.factories import web_settings

ADA, GRACE = "Cllr Ada Lovelace", "Cllr Grace Hopper"
DAY = datetime(2026, 6, 10, tzinfo=UTC)


def at(h: int, m: int, s: int = 0) -> datetime:
    return DAY.replace(hour=h, minute=m, second=s)


START, ADJOURN, RESUME, END = at(18, 2), at(19, 0), at(19, 10), at(20, 15)
NOW = at(21, 0)  # when the golden report is made
GRACE_MIN = timedelta(minutes=5)

# member: (episodes, lookups, bypass attempts, first, last — London wall-clock)
EXPECTED = {
    ADA: (4, 7, 1, "19:10:00", "19:40:00"),
    GRACE: (2, 5, 2, "20:20:00", "20:31:00"),
}
EXPECTED_PLATFORMS = {ADA: {"Instagram": (3, 5), "TikTok": (1, 2)},
                      GRACE: {"Facebook": (1, 4), "X (Twitter)": (1, 1)}}
EXPECTED_TOTALS = (6, 12, 3)  # episodes, lookups, bypass attempts
IN_SESSION_MINUTES = 58 + 65
OUTAGE = (at(19, 39, 50), at(19, 45))  # 5 min 10 s, inside the second session
UPTIME = round(100 * (1 - 310 / (IN_SESSION_MINUTES * 60)), 1)  # 95.8


@dataclass
class Golden:
    settings: Settings
    db: Database
    ids: dict[str, int] = field(default_factory=dict)


def make_settings(data_dir: Path, extra: str = "") -> Settings:
    return web_settings(data_dir, extra,
                        site='name = "Example Borough Council"\nroom = "chamber"\n')


def seed_golden(data_dir: Path, *, url: str | None = None, extra: str = "") -> Golden:
    settings = make_settings(data_dir, extra)
    url = url or settings.database_url
    upgrade(url)
    db = Database(url)
    g = Golden(settings, db)
    with db.session() as s:
        ada = create_member(s, name=ADA, actor="seed")
        grace = create_member(s, name=GRACE, actor="seed")
        g.ids.update(ada=ada.id, grace=grace.id)
        for key, mac, member, label in (("ipad", "02:00:5e:10:00:01", ada.id, "iPad"),
                                        ("iphone", "02:00:5e:10:00:02", ada.id, "iPhone"),
                                        ("phone", "00:1b:63:84:45:e6", grace.id, "Phone")):
            g.ids[key] = register_device(s, mac=mac, member_id=member, label=label,
                                         actor="seed").id
        stranger = Device(mac="da:a1:19:00:00:07", label="", randomised=True,
                          created_at=at(18, 5), last_seen=at(18, 5))
        s.add(stranger)
        s.flush()
        g.ids["stranger"] = stranger.id
        m = create_meeting(s, title="Planning Committee - 10 June", committee_title="Planning "
                           "Committee", start=at(18, 0), end=at(20, 30), room="chamber",
                           actor="seed")
        other = create_meeting(s, title="Full Council - 17 June", committee_title="Council",
                               start=at(18, 0) + timedelta(days=7),
                               end=at(21, 0) + timedelta(days=7), room="chamber", actor="seed")
        g.ids.update(meeting=m.id, other=other.id)
        for action, when in ((ClerkAction.START, START), (ClerkAction.ADJOURN, ADJOURN),
                             (ClerkAction.RESUME, RESUME), (ClerkAction.END, END)):
            clerk_action(s, meeting_id=m.id, action=action, actor="clerk", grace=GRACE_MIN,
                         at=when)
    store_now(db, golden_events(g))
    with db.session() as s:
        write_incidents(s, "chamber", golden_incidents())
    return g


def golden_incidents() -> list[IncidentNote]:
    """The typed rows behind the outage events: what reports count."""
    return [
        IncidentNote(IncidentKind.OUTAGE, Component.GATE, OUTAGE[0], OUTAGE[1],
                     "gate worker exited unexpectedly (status 1); the chamber failed open "
                     "(nobody restricted, DNS forwarded upstream) until the gate restarts"),
        IncidentNote(IncidentKind.LOSS, Component.EVENTS, at(19, 50), at(19, 50),
                     "event queue full: 3 events dropped"),
    ]


def golden_events(g: Golden) -> list[EventRecord]:
    mid = g.ids["meeting"]

    def attempt(ts: datetime, key: str, member: str, platform: str, domain: str,
                meeting: int | None = mid) -> EventRecord:
        mac = {"ipad": "02:00:5e:10:00:01", "iphone": "02:00:5e:10:00:02",
               "phone": "00:1b:63:84:45:e6"}[key]
        return EventRecord(ts, EventKind.ATTEMPT, EventAction.REFUSED, room="chamber", mac=mac,
                           device_id=g.ids[key], member_id=g.ids[member], meeting_id=meeting,
                           domain=domain, platform=platform, category="platform",
                           rule=f"{domain} (catalogue)")

    def bypass(ts: datetime, key: str, member: str, detail: str, domain: str | None,
               action: EventAction = EventAction.REFUSED) -> EventRecord:
        mac = {"iphone": "02:00:5e:10:00:02", "phone": "00:1b:63:84:45:e6"}[key]
        return EventRecord(ts, EventKind.BYPASS, action, room="chamber", mac=mac,
                           device_id=g.ids[key], member_id=g.ids[member], meeting_id=mid,
                           domain=domain, category="bypass", detail=detail)

    ev = [
        EventRecord(at(18, 5), EventKind.DEVICE_SEEN, EventAction.OBSERVED, room="chamber",
                    device_id=g.ids["stranger"], meeting_id=mid,
                    detail="unregistered device first seen"),
        # Ada's iPad, Instagram: one episode of three lookups, then two more episodes — the
        # last one exactly the gap (2 min) after the one before: a new episode.
        attempt(at(18, 10, 0), "ipad", "ada", "instagram", "i.instagram.com"),
        attempt(at(18, 10, 30), "ipad", "ada", "instagram", "graph.instagram.com"),
        attempt(at(18, 11, 0), "ipad", "ada", "instagram", "i.instagram.com"),
        attempt(at(18, 20, 0), "ipad", "ada", "instagram", "i.instagram.com"),
        attempt(at(18, 22, 0), "ipad", "ada", "instagram", "i.instagram.com"),
        attempt(at(18, 30, 0), "iphone", "ada", "tiktok", "www.tiktok.com"),
        attempt(at(18, 31, 0), "iphone", "ada", "tiktok", "www.tiktok.com"),
        bypass(at(18, 40), "iphone", "ada", "doh", "dns.google"),
        attempt(at(19, 20, 0), "phone", "grace", "facebook", "www.facebook.com"),
        attempt(at(19, 20, 30), "phone", "grace", "facebook", "www.facebook.com"),
        attempt(at(19, 21, 0), "phone", "grace", "facebook", "graph.facebook.com"),
        attempt(at(19, 21, 30), "phone", "grace", "facebook", "www.facebook.com"),
        attempt(at(19, 25, 0), "phone", "grace", "x", "x.com"),
        bypass(at(19, 30), "phone", "grace", "canary", "use-application-dns.net"),
        bypass(at(19, 31), "phone", "grace", "DNS sent to another resolver", "example.org"),
        # The guard failed the chamber open; the restarted gate recorded the gap.
        EventRecord(at(19, 39, 50), EventKind.OUTAGE, EventAction.OBSERVED, room="chamber",
                    detail=f"gate was down from {OUTAGE[0].isoformat()} to "
                           f"{OUTAGE[1].isoformat()}"),
        EventRecord(at(19, 40), EventKind.OUTAGE, EventAction.OBSERVED, room="chamber",
                    detail="gate worker exited unexpectedly (status 1); the chamber failed "
                           "open (nobody restricted, DNS forwarded upstream) until the gate "
                           "restarts"),
        EventRecord(at(19, 50), EventKind.OUTAGE, EventAction.OBSERVED, room="chamber",
                    detail="event queue full: 3 events dropped"),
        # A week later, another meeting (for the member report).
        attempt(at(18, 30) + timedelta(days=7), "phone", "grace", "instagram",
                "i.instagram.com", meeting=g.ids["other"]),
    ]
    return sorted(ev, key=lambda e: e.ts)
