"""The facts a DPIA draft and the members' notice are written from — read, never typed.

Everything here comes from the installation as it runs: the settings in force, the
SQLAlchemy schema (so the data-items table lists the columns that really exist), the role
sets of :mod:`api.auth.roles`, the privacy level and retention state in the database. A
change to any of them changes the draft; nothing is boilerplate that could drift from the
product. Where only the council can decide (lawful basis, necessity, consultation), the
facts say so and leave a marked place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from api.auth import roles as role_module
from api.auth.roles import Role
from api.reports.method import TOPOLOGY
from monitor.evidence.levels import AUDIT_ACTION
from monitor.evidence.privacy import DROPPED_BELOW_FULL, LEVEL_TEXT, PrivacyLevel, site_level
from monitor.evidence.retention import RetentionStatus, retention_status
from monitor.settings import Settings
from monitor.store.models import AuditRow, Base
from monitor.store.policy_loader import site_mode

ROLE_TITLE = {Role.CLERK: "Clerk", Role.IT_ADMIN: "IT administrator",
              Role.MONITORING_OFFICER: "Monitoring officer", Role.VIEWER: "Viewer (read-only)"}
# What each role set of api/auth/roles.py opens, in plain words. A set without an entry
# here still appears in the draft, under its own name: nothing is hidden by omission.
ROLE_SET_TEXT = {
    "LIVE_VIEW": "the live dashboard: meetings in session, and attempts as they are recorded "
                 "(member, device, platform, time)",
    "CLERK_ACTIONS": "start, adjourn, resume and end a meeting",
    "CONFIGURE": "configuration: allowlist, members and their devices, meetings, users, site "
                 "mode; the IT overview (retention state) and this DPIA draft",
    "REPORTS": "signed meeting, member and site reports, and members' subject-access exports",
    "AUDIT": "the audit log of every change (who, when, before and after)",
    "EXPLAIN": "\"why was this name refused?\" for a name and device",
    "PRIVACY": "the DPIA draft and the members' notice from the dashboard",
}


@dataclass(frozen=True, slots=True)
class Describe:
    """How the draft describes one table of personal data (the columns come from the
    schema, not from here)."""

    item: str
    whose: str
    purpose: str
    kept: str  # a format string: {events_days}, {reports_years}


# Tables holding personal data. A table in the schema but not here is listed under
# "other tables" with its columns, so a new table cannot go unmentioned.
PERSONAL: dict[str, Describe] = {
    "members": Describe("Member", "Members", "who a device belongs to; names in reports",
                        "while the member is active; removed by IT"),
    "devices": Describe("Device", "Members; guests' devices seen during a meeting",
                        "recognise a member's device on the chamber Wi-Fi (MAC address)",
                        "registered: until IT or the member removes it; unregistered: "
                        "{events_days} days after last seen"),
    "wifi_keys": Describe("Member's own Wi-Fi key", "Members",
                          "a chamber Wi-Fi passphrase per member, so a device is known by the "
                          "key it joined with", "until rotated, or removed with the member"),
    "events": Describe("Recorded attempt", "Members (via their devices)",
                       "evidence of attempts to reach social platforms, or to get round the "
                       "filter, while a meeting is in session; gate outages",
                       "{events_days} days (\"counts\": until the meeting's report is "
                       "signed)"),
    "meeting_totals": Describe("Meeting totals", "Members",
                               "what the \"counts\" level keeps of a meeting once its report "
                               "is signed", "{events_days} days after the meeting"),
    "registration_codes": Describe("Registration code", "Members",
                                   "let a member register their own device (only a hash of "
                                   "the code is kept)", "until it expires or is used; removed "
                                   "with the member"),
    "reports_issued": Describe("Issued-report register", "Members named in reports",
                               "prove who issued a report and when (never its content)",
                               "{reports_years} years"),
    "learned_names": Describe("Learned names", "The device IT chose to learn from",
                              "find the agenda/webcast services' hosts (IT-started, one "
                              "device, time-limited)", "until IT removes the session"),
    "learn_sessions": Describe("Learning session", "The device IT chose",
                               "which device was learned from, when, by whom",
                               "until IT removes it"),
    "users": Describe("Staff account", "Council staff",
                      "log in with a role (password stored as an Argon2 hash)",
                      "until IT removes the account"),
    "sessions": Describe("Staff login session", "Council staff",
                         "keep staff logged in (only a hash of the token)",
                         "until it expires or is revoked"),
    "audit": Describe("Audit log", "Staff (actors); members (in changes)",
                      "accountability for every change and export",
                      "not deleted automatically (see the council's decisions below)"),
    "clerk_actions": Describe("Clerk actions", "Clerks", "when a meeting was started, "
                              "adjourned, resumed or ended, and by whom", "with the meeting"),
}
NEVER_STORED = (
    "web addresses (URLs), page paths or query strings",
    "the content of anything a member reads, types, sends or watches: no messages, posts, "
    "searches or pages",
    "browsing that is not a social platform or a way round the filter (it is refused or "
    "allowed, and counted, but not recorded against the device)",
    "anything outside a meeting in session: devices are not restricted or recorded between "
    "meetings",
    "traffic on mobile data (4G/5G), personal hotspots or any other network",
    "the registration code itself (only a hash)",
    "staff passwords or session tokens (only hashes)",
)
JUDGEMENT = (
    ("Lawful basis", "Which UK GDPR Article 6 basis applies (for example public task, "
     "Article 6(1)(e)), and the statutory function or policy it rests on."),
    ("Necessity and proportionality", "Why monitoring members' devices during meetings is "
     "needed for the council's aim, why less intrusive means (a protocol alone, the chair's "
     "discretion) are not enough, and why the privacy level chosen is the right one."),
    ("Consultation", "How members, group leaders, the standards committee and the data "
     "protection officer were consulted, and what changed as a result."),
    ("Risks to members and mitigations", "The council's own assessment of likelihood and "
     "severity (for example misattribution of a shared device, background activity read as "
     "intent) and the mitigations it relies on."),
    ("Retention decision", "Why the retention periods below are right, and how long the audit "
     "log is kept."),
    ("Sign-off", "Data protection officer's advice, decision maker, date, and review date."),
)


@dataclass(frozen=True, slots=True)
class ColumnFact:
    name: str
    type: str
    stored: bool  # False: this column is left empty at the level in force


@dataclass(frozen=True, slots=True)
class DataItem:
    table: str
    item: str
    whose: str
    purpose: str
    kept: str
    columns: list[ColumnFact]


@dataclass(frozen=True, slots=True)
class RoleFact:
    name: str  # the constant in api/auth/roles.py
    what: str
    roles: list[str]


@dataclass(slots=True)
class Facts:
    council: str
    room: str
    generated_at: datetime
    topology: str
    topology_title: str
    topology_text: str
    mode: str
    level: PrivacyLevel
    level_text: str
    level_configured: PrivacyLevel
    level_changes: list[dict[str, Any]]
    storage: dict[str, str]
    data_items: list[DataItem]
    other_tables: list[DataItem]
    never_stored: list[str]
    retention: RetentionStatus
    roles: list[RoleFact]
    integrity: list[str]
    limits: list[str]
    judgement: list[tuple[str, str]]
    agenda_host: str
    webcast_host: str
    extra: dict[str, Any] = field(default_factory=dict)


def storage(settings: Settings) -> dict[str, str]:
    """Where the data lives — engine, file or host and database — never credentials."""
    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        return {"engine": "unknown (the database URL does not parse)"}
    data_dir = str(settings.site.data_dir.resolve())
    out = {"data_dir": data_dir, "spool": f"{data_dir}/spool",
           "keys": f"{data_dir}/keys"}
    if url.get_backend_name() == "sqlite":
        out.update(engine="SQLite", file=str(url.database or ""))
    else:
        out.update(engine="PostgreSQL", host=str(url.host or "local socket"),
                   port=str(url.port or 5432), database=str(url.database or ""))
    return out


def data_items(level: PrivacyLevel, settings: Settings) -> tuple[list[DataItem], list[DataItem]]:
    """The personal-data tables and every other table, with their real columns."""
    fmt = {"events_days": settings.retention.events_days,
           "reports_years": settings.retention.reports_years}
    personal: list[DataItem] = []
    other: list[DataItem] = []
    for name in sorted(Base.metadata.tables):
        t: Table = Base.metadata.tables[name]
        cols = [ColumnFact(c.name, _type(c.type), not (
            name == "events" and c.name in DROPPED_BELOW_FULL and not level.keeps_host_names))
            for c in t.columns]
        d = PERSONAL.get(name)
        if d is None:
            other.append(DataItem(name, name, "", "", "", cols))
        else:
            personal.append(DataItem(name, d.item, d.whose, d.purpose, d.kept.format(**fmt),
                                     cols))
    order = list(PERSONAL)
    personal.sort(key=lambda i: order.index(i.table))
    return personal, other


def _type(t: Any) -> str:
    try:
        return str(t.compile()).lower()
    except Exception:  # noqa: BLE001 — a type without a generic rendering: say its class
        return type(t).__name__.lower()


def role_facts() -> list[RoleFact]:
    out = []
    for name, value in vars(role_module).items():
        if name.isupper() and isinstance(value, frozenset) and name != "ALL":
            out.append(RoleFact(name, ROLE_SET_TEXT.get(name, name.replace("_", " ").lower()),
                                [ROLE_TITLE.get(r, str(r)) for r in Role if r in value]))
    return out


def integrity(settings: Settings) -> list[str]:
    return [
        "Every recorded event is hash-chained as it is written (SHA-256, each event linked to "
        "the one before); `chamberguard verify-chain` names the first removed or altered "
        "event.",
        "Retention purges delete the oldest events and leave an anchor (the hash of the last "
        "one deleted), so the chain still verifies; every purge run is recorded with its "
        "counts.",
        "Under the \"counts\" level, each run of removed events leaves a recorded gap (the "
        "hash before it and its last hash); verification steps over exactly those gaps.",
        "Reports are signed with the installation's Ed25519 key "
        f"({settings.site.data_dir}/keys) and entered in a register of issued reports; "
        "`chamberguard report verify FILE` detects any change.",
        "Every change of configuration, each privacy-level change and each subject-access "
        "export is in the audit log with the real actor.",
        "Staff passwords are stored as Argon2 hashes; session tokens and registration codes "
        "as SHA-256 hashes. Every page and API route requires a login with a role; forms are "
        "protected against cross-site requests.",
    ]


def limits(settings: Settings) -> list[str]:
    out = [
        "A device on mobile data (4G/5G), a personal hotspot or any other network is "
        "invisible: the absence of a record does not show that a device was not used.",
        "Phones contact platforms on their own (notifications, background refresh, embedded "
        "content): a record shows the device reached for a platform, not that the member "
        "opened it.",
        "Devices are attributed by registration (Wi-Fi MAC address): a lent or shared device, "
        "a wrong registration or a rotating private address is attributed wrongly or not at "
        "all.",
        "Between being seen and reaching the database (milliseconds, longer if the database "
        "is down), the gate keeps each event in its crash spool "
        f"({settings.site.data_dir}/spool) as recorded, before the privacy level is applied.",
    ]
    topo = settings.site.topology
    if topo == "resolver-only":
        out.append("Resolver-only topology: a device using another resolver or a typed-in "
                   "address is neither stopped nor fully seen.")
    elif topo == "mirror":
        out.append("Mirror topology: nothing is blocked; every record was observed, not "
                   "prevented.")
    return out


def level_changes(s: Session) -> list[dict[str, Any]]:
    rows = s.execute(select(AuditRow).where(AuditRow.action == AUDIT_ACTION)
                     .order_by(AuditRow.ts)).scalars()
    return [{"at": r.ts, "by": r.actor, "from": (r.before or {}).get("privacy_level"),
             "to": (r.after or {}).get("privacy_level")} for r in rows]


def gather(s: Session, settings: Settings, now: datetime | None = None) -> Facts:
    """Everything the DPIA draft and the notice say, from this installation."""
    now = now or datetime.now(UTC)
    conn = s.connection()
    level = site_level(conn)
    personal, other = data_items(level, settings)
    title, text = TOPOLOGY[settings.site.topology]
    return Facts(
        council=settings.site.name, room=settings.site.room, generated_at=now,
        topology=settings.site.topology, topology_title=title, topology_text=text,
        mode=site_mode(s, settings).value, level=level, level_text=LEVEL_TEXT[level],
        level_configured=PrivacyLevel(settings.privacy.level), level_changes=level_changes(s),
        storage=storage(settings), data_items=personal, other_tables=other,
        never_stored=list(NEVER_STORED), retention=retention_status(conn, settings),
        roles=role_facts(), integrity=integrity(settings), limits=limits(settings),
        judgement=list(JUDGEMENT), agenda_host=settings.policy.democracy_host,
        webcast_host=settings.policy.webcast_host)
