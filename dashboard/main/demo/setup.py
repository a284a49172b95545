"""The demo's data: its directory, its own config file, and the database it starts with
(members and their devices, the three logins, a meeting in session)."""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from monitor.chamber_sim import DEMO_MARKER
from monitor.chamber_sim import traffic_demo as traffic

if TYPE_CHECKING:
    from monitor.settings import Settings
    from monitor.store.db import Database

PREFIX = "cgdemo"  # namespaces: cgdemo<hex>-gw, -inet, -m1..., -g1... ('m', 'o' are not hex)
MARKER = DEMO_MARKER
DEMO_PCAP = Path(traffic.__file__).with_name("data") / "demo.pcap"  # monitor/chamber_sim/data
GATE_IP6 = "2001:db8:c::1"
ROOM = "chamber"
MEETING_TITLE = "Full Council (demo)"

# (member, device label, MAC). The replay capture uses the same MACs.
MEMBERS: tuple[tuple[str, str, str], ...] = (
    ("Cllr Ada Lovelace", "iPad", "02:00:5e:10:00:01"),
    ("Cllr Mary Seacole", "iPhone", "02:00:5e:10:00:02"),
    ("Cllr Isambard Brunel", "Surface", "02:00:5e:10:00:03"),
    ("Cllr Rosalind Franklin", "Pixel", "02:00:5e:10:00:04"),
    ("Cllr Alan Turing", "iPad", "02:00:5e:10:00:05"),
    ("Cllr Dorothy Hodgkin", "Galaxy Tab", "02:00:5e:10:00:06"),
)
GUEST_MACS: tuple[str, ...] = tuple(f"02:00:5e:20:00:{i:02x}" for i in range(1, 7))
ROLES: tuple[tuple[str, str], ...] = (
    ("clerk", "live dashboard; starts, adjourns and ends the meeting"),
    ("it_admin", "allowlist, devices, users"),
    ("monitoring_officer", "reports and audit"),
)




class DemoError(RuntimeError):
    """The demo cannot start; the message says why (printed without a traceback)."""


@dataclass
class DemoOptions:
    data_dir: Path
    port: int = 8000
    members: int = 4
    guests: int = 2
    replay: bool = False  # replay the bundled capture even where namespaces work
    prefix: str = ""
    duration: float | None = None  # stop on its own after this many seconds
    pace: float = 1.0  # traffic intervals are multiplied by this
    out: TextIO = field(default_factory=lambda: sys.stdout)


@dataclass
class Logins:
    passwords: dict[str, str]
    meeting_id: int
    meeting_end: datetime


def prepare_data_dir(path: Path) -> None:
    """A demo only ever wipes a directory it made (it carries the marker file)."""
    path.mkdir(parents=True, exist_ok=True)
    marker = path / MARKER
    if not marker.exists():
        if any(path.iterdir()):
            raise DemoError(f"refusing to use {path}: it is not empty and was not made by the "
                            "demo (pass --data-dir with a new or demo directory)")
        marker.write_text("made by `chamberguard demo`; its contents are thrown away on start\n")
        return
    for child in path.iterdir():
        if child.name == MARKER:
            continue
        if child.is_dir():
            for sub in sorted(child.rglob("*"), reverse=True):
                sub.rmdir() if sub.is_dir() else sub.unlink()
            child.rmdir()
        else:
            child.unlink()


def write_config(opts: DemoOptions, *, live: bool) -> Path:
    """The demo's own config (the operator's config file is not used)."""
    from monitor.chamber_sim.netns import GATE_IP
    from monitor.chamber_sim.upstream import FAKE_RESOLVER

    data_dir = opts.data_dir.resolve()
    if live:
        site = 'mode = "enforce"\ntopology = "inline"'
        chamber = (f'interface = "chamber0"\nsubnets = ["198.51.100.0/24", "2001:db8:c::/64"]\n'
                   f'gate_address = "{GATE_IP}"\ngate_address6 = "{GATE_IP6}"')
    else:
        site = 'mode = "monitor-only"\ntopology = "mirror"'
        chamber = 'interface = ""\nsubnets = ["198.51.100.0/24"]'
    text = f"""# Written by `chamberguard demo`; thrown away with the demo's data directory.
[site]
name = "Demo Borough Council"
room = "{ROOM}"
{site}
data_dir = "{data_dir}"

[chamber]
{chamber}

[dns]
listen = "{GATE_IP}"
upstream = "{FAKE_RESOLVER}:53"
max_ttl = 30
doh_addresses = ["{traffic.DOH_ADDRESS}"]

[policy]
democracy_host = "{traffic.AGENDA}"
webcast_host = "{traffic.WEBCAST}"

[web]
host = "127.0.0.1"
port = {opts.port}
{f'registration_host = "{GATE_IP}"' if live else ''}
# plain http on loopback (no TLS proxy in the demo): Secure cookies would never come back
secure_cookies = false

[capture]
enabled = {"true" if live else "false"}
"""
    path = data_dir / "demo.toml"
    path.write_text(text)
    return path


def setup_database(settings: Settings, db: Database, members: int) -> Logins:
    """Migrations, members and their devices, the three logins, a meeting in session now."""
    from allowlist.clock import ClerkAction
    from api.devices.service import register_device
    from api.meetings.service import clerk_action, create_meeting
    from api.members.service import create_member
    from api.users.service import create_user
    from monitor.store.migrate import upgrade

    upgrade(settings.database_url)
    passwords = {role: secrets.token_urlsafe(12) for role, _ in ROLES}
    now = datetime.now(UTC).replace(microsecond=0)
    end = now + timedelta(hours=3)
    grace = timedelta(minutes=settings.policy.grace_minutes)
    with db.session() as s:
        for name, label, mac in MEMBERS[:members]:
            m = create_member(s, name=name, actor="demo")
            register_device(s, mac=mac, member_id=m.id, label=label, actor="demo")
        for role, password in passwords.items():
            create_user(s, username=role, password=password, role=role, actor="demo")
        meeting = create_meeting(s, title=MEETING_TITLE, start=now - timedelta(minutes=10),
                                 end=end, room=ROOM, actor="demo")
        clerk_action(s, meeting_id=meeting.id, action=ClerkAction.START, actor="clerk",
                     grace=grace)
        meeting_id = meeting.id
    return Logins(passwords, meeting_id, end)
