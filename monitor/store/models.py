"""ORM tables. Privacy by design: events hold device, member, platform, domain and time —
never URLs, payloads or the content of anything a member looked at."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from allowlist.identity import IdentitySource
from monitor.store.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class Site(Base):
    """One row. ``revision`` is bumped by every policy-relevant change; gates poll it."""

    __tablename__ = "site"
    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    mode: Mapped[str | None] = mapped_column(String(20), nullable=True)  # None: config default
    # The privacy level in force (monitor.evidence.privacy): synced from the config file at
    # start-up, each change audited. None: never synced (treated as "full").
    privacy_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Member(Base):
    __tablename__ = "members"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The member's 802.1X login as RADIUS accounting reports it (User-Name); matched
    # case-insensitively. Empty: the email is tried instead.
    radius_user: Mapped[str | None] = mapped_column(String(253), nullable=True, unique=True)
    # modern.gov's councillor id, when the member came from a roster import (upsert key).
    moderngov_id: Mapped[str | None] = mapped_column(String(40), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    devices: Mapped[list[Device]] = relationship(back_populates="member")


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(primary_key=True)
    mac: Mapped[str] = mapped_column(String(17), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    randomised: Mapped[bool] = mapped_column(Boolean, default=False)
    hostname: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    # How the device is tied to its member (allowlist.identity.IdentitySource).
    identity: Mapped[IdentitySource] = mapped_column(
        Enum(IdentitySource, native_enum=False, length=20,
             values_callable=lambda e: [x.value for x in e], validate_strings=True),
        default=IdentitySource.MAC_ONLY, server_default=IdentitySource.MAC_ONLY.value)
    # SHA-256 of the secret the phone was given (as a cookie) when it registered itself;
    # its "my devices" page wants that secret, not just the MAC (which anyone can copy).
    self_key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    member: Mapped[Member | None] = relationship(back_populates="devices")


class WifiKey(Base):
    """A member's own Wi-Fi passphrase (hostapd ``wpa_psk_file`` with ``keyid=``).

    The passphrase is kept as such: hostapd needs it, and the member's printed slip shows it.
    ``key_id`` is what hostapd reports for a station that used it; ``rotated_at`` says when a
    new passphrase replaced the old one (the old one stops working once hostapd re-reads)."""

    __tablename__ = "wifi_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), unique=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    passphrase: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    member: Mapped[Member] = relationship()


class Meeting(Base):
    __tablename__ = "meetings"
    __table_args__ = (UniqueConstraint("source", "source_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20), default="manual")
    source_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    committee_id: Mapped[str | None] = mapped_column(String(50), nullable=True)
    committee_title: Mapped[str] = mapped_column(String(300), default="")
    title: Mapped[str] = mapped_column(String(300))
    start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="confirmed")
    room: Mapped[str | None] = mapped_column(String(100), nullable=True)
    location: Mapped[str | None] = mapped_column(String(300), nullable=True)
    webcast: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    in_scope: Mapped[bool] = mapped_column(Boolean, default=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    clerk_actions: Mapped[list[ClerkActionRow]] = relationship(
        back_populates="meeting", order_by="ClerkActionRow.at"
    )
    extensions: Mapped[list[MeetingExtensionRow]] = relationship(
        order_by="MeetingExtensionRow.at", lazy="selectin"
    )
    # The source gave no end time: the end is a guess IT should confirm (shown, not silent).
    end_guessed: Mapped[bool] = mapped_column(Boolean, default=False)


class CommitteeScopeRow(Base):
    """IT's override of the title rules for one committee (key: normalised committee title,
    see api.meetings.sync.committee_key); applies to its existing and future meetings."""

    __tablename__ = "committee_scope"
    committee_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    in_scope: Mapped[bool] = mapped_column(Boolean)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClerkActionRow(Base):
    __tablename__ = "clerk_actions"
    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by_user: Mapped[str | None] = mapped_column(String(100), nullable=True)
    meeting: Mapped[Meeting] = relationship(back_populates="clerk_actions")


class MeetingExtensionRow(Base):
    """The clerk extended an overrunning meeting by ``minutes`` (see allowlist.clock)."""

    __tablename__ = "meeting_extensions"
    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"),
                                            index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by_user: Mapped[str] = mapped_column(String(100))


class MeetingExemptionRow(Base):
    """The clerk's exception for one meeting: a member, or one device, is not restricted.
    Withdrawn exceptions keep their row (``withdrawn_at``) so the report can list them."""

    __tablename__ = "meeting_exemptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"),
                                            index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                                  nullable=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"),
                                                  nullable=True)
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawn_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class RefusedNameRow(Base):
    """An unlisted name refused to a restricted device: for IT's troubleshooting ("the member
    cannot reach the papers"), deleted after ``[retention] refused_names_hours``. Names and
    times only — never URLs or content."""

    __tablename__ = "refused_names"
    __table_args__ = (UniqueConstraint("device_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"),
                                           index=True)
    name: Mapped[str] = mapped_column(String(253))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    lookups: Mapped[int] = mapped_column(Integer, default=1)


class RuleRow(Base):
    """IT-entered rules. Presets and the catalogue are data files, switched on by name."""

    __tablename__ = "rules"
    __table_args__ = (UniqueConstraint("domain", "exact"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(253))
    category: Mapped[str] = mapped_column(String(20))
    platform: Mapped[str | None] = mapped_column(String(50), nullable=True)
    exact: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PresetRow(Base):
    __tablename__ = "presets"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class PlatformDomainRow(Base):
    """A domain IT added to the platform catalogue: a new platform (``name`` set) or one
    more suffix for a shipped one. Merged with the catalogue by policy_loader."""

    __tablename__ = "platform_domains"
    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """One attempt/bypass/outage record (see monitor.events.EventRecord for the fields' meaning)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_meeting_member", "meeting_id", "member_id", "ts"),
        Index("ix_events_device_ts", "device_id", "ts"),
        Index("ix_events_kind_ts", "kind", "ts"),
        Index("ux_events_uid", "uid", unique=True),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Writer-given (gate boot id, sequence): makes spool replay idempotent. NULL on old rows.
    uid: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(10))
    room: Mapped[str | None] = mapped_column(String(100), nullable=True)
    mac: Mapped[str | None] = mapped_column(String(17), nullable=True)
    device_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    member_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    meeting_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    domain: Mapped[str | None] = mapped_column(String(253), nullable=True)
    platform: Mapped[str | None] = mapped_column(String(50), nullable=True)
    category: Mapped[str | None] = mapped_column(String(20), nullable=True)
    channels: Mapped[str] = mapped_column(String(40), default="dns")
    rule: Mapped[str | None] = mapped_column(String(300), nullable=True)
    detail: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # Hash chain (monitor.evidence.chain), set by the sink inside the insert transaction.
    # NULL only on rows written before the chain existed (see EventChain.legacy_max_id).
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class EventChain(Base):
    """One row: the event chain's head (hash of the last chained event, to detect a cut-off
    tail) and anchor (hash of the last purged event, or all zeros: what the first retained
    event must point back to)."""

    __tablename__ = "event_chain"
    id: Mapped[int] = mapped_column(primary_key=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    anchor_hash: Mapped[str] = mapped_column(String(64))
    anchor_event_id: Mapped[int] = mapped_column(Integer, default=0)
    legacy_max_id: Mapped[int] = mapped_column(Integer, default=0)  # unchained rows end here
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PurgeRow(Base):
    """The marker a retention purge leaves: what went, and the new chain anchor."""

    __tablename__ = "evidence_purges"
    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    events_cutoff: Mapped[datetime] = mapped_column(UTCDateTime)
    events_deleted: Mapped[int] = mapped_column(Integer, default=0)
    first_event_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_event_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    anchor_hash: Mapped[str] = mapped_column(String(64))
    late_events_kept: Mapped[int] = mapped_column(Integer, default=0)
    reports_cutoff: Mapped[datetime] = mapped_column(UTCDateTime)
    reports_deleted: Mapped[int] = mapped_column(Integer, default=0)
    devices_deleted: Mapped[int] = mapped_column(Integer, default=0)


class MeetingPrivacy(Base):
    """The privacy level a meeting was recorded under, fixed when its first event is stored
    (or when the site's level changes while it is in session): a change applies from the
    next meeting. ``collapsed_*``: under "counts", when its events became totals."""

    __tablename__ = "meeting_privacy"
    meeting_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    level: Mapped[str] = mapped_column(String(20))
    fixed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    collapsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    collapsed_events: Mapped[int] = mapped_column(Integer, default=0)
    collapsed_by_report: Mapped[str | None] = mapped_column(String(36), nullable=True)


class MeetingTotal(Base):
    """What "counts" keeps of a meeting once its report is signed: one row per member,
    kind, action and platform, with the number of events. No times, devices or names."""

    __tablename__ = "meeting_totals"
    __table_args__ = (Index("ix_meeting_totals_meeting", "meeting_id", "member_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(10))
    platform: Mapped[str | None] = mapped_column(String(50), nullable=True)
    category: Mapped[str | None] = mapped_column(String(20), nullable=True)
    events: Mapped[int] = mapped_column(Integer, default=0)


class ChainGap(Base):
    """Where "counts" removed a run of consecutive events from the hash chain: the hash the
    run followed (``prev_hash``) and the hash of its last event (``last_hash``). The verifier
    steps over a gap only from exactly that hash to exactly that one, so removing any other
    event still breaks the chain."""

    __tablename__ = "chain_gaps"
    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(Integer, index=True)
    first_event_id: Mapped[int] = mapped_column(Integer)
    last_event_id: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PurgeRun(Base):
    """Every retention run, whether or not it removed anything (the IT overview's "last
    purge" and "next purge"); ``purge_id`` names its evidence_purges marker, if any."""

    __tablename__ = "purge_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    events_deleted: Mapped[int] = mapped_column(Integer, default=0)
    reports_deleted: Mapped[int] = mapped_column(Integer, default=0)
    devices_deleted: Mapped[int] = mapped_column(Integer, default=0)
    meetings_collapsed: Mapped[int] = mapped_column(Integer, default=0)
    events_collapsed: Mapped[int] = mapped_column(Integer, default=0)
    purge_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class IssuedReport(Base):
    """Register of signed reports (never their content): lets ``report verify`` say who
    issued a file and when; kept ``retention.reports_years``."""

    __tablename__ = "reports_issued"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300))
    params: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    format: Mapped[str] = mapped_column(String(10))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    generated_by: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    chain_event_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    chain_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(30))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SessionRow(Base):
    """Browser sessions and API tokens; only a SHA-256 of the secret is stored."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="browser")  # browser | api
    name: Mapped[str] = mapped_column(String(100), default="")
    csrf: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditRow(Base):
    """Append-only record of every configuration change: who, when, what, before/after."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class GateHeartbeat(Base):
    """Each gate writes here every few seconds; the dashboard shows "gate down" from it.
    Written and read only through monitor.heartbeat (typed), never parsed."""

    __tablename__ = "gate_heartbeats"
    room: Mapped[str] = mapped_column(String(100), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    enforcing: Mapped[bool] = mapped_column(Boolean, default=False)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # monitor.heartbeat.SensorState; NULL: not reported.
    sensor: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # monitor.counters.GateCounters.as_json(); NULL: not reported.
    counters: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # Component → {"state", "since", "why"} (monitor.health.ComponentHealth.as_json).
    components: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class Incident(Base):
    """A typed outage or error: what (kind, monitor.incidents.IncidentKind), which part
    (component, monitor.health.Component), when (started_at, ended_at: NULL while open) and
    why (cause). Reports and the dashboard read these columns, never sentences."""

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    component: Mapped[str] = mapped_column(String(20))
    room: Mapped[str | None] = mapped_column(String(100), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cause: Mapped[str] = mapped_column(String(500))
    count: Mapped[int] = mapped_column(Integer, default=1)  # errors folded into this row


class LearnSession(Base):
    """IT asked to learn what one device resolves for a while (to find agenda/webcast CDNs)."""

    __tablename__ = "learn_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(100), default="")


class LearnedName(Base):
    __tablename__ = "learned_names"
    __table_args__ = (UniqueConstraint("session_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("learn_sessions.id"), index=True)
    name: Mapped[str] = mapped_column(String(253))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    lookups: Mapped[int] = mapped_column(Integer, default=0)


class RegistrationCode(Base):
    """A one-time code IT gives a member to register their own device on the chamber Wi-Fi
    (DESIGN §11). Only a SHA-256 of the code is kept: the code is shown once, when issued."""

    __tablename__ = "registration_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), nullable=True
    )


class ChamberCheckRow(Base):
    """A pre-meeting check asked for by the web or the CLI and run by the room's gate worker
    (monitor.check). ``state`` is a monitor.check.model.RequestState."""

    __tablename__ = "chamber_checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    room: Mapped[str] = mapped_column(String(100), index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    requested_by: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lines: Mapped[list[ChamberCheckLineRow]] = relationship(
        order_by="ChamberCheckLineRow.position", lazy="selectin")


class ChamberCheckLineRow(Base):
    """One green/red line of a check: item and status are monitor.check.model enums."""

    __tablename__ = "chamber_check_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("chamber_checks.id", ondelete="CASCADE"),
                                          index=True)
    position: Mapped[int] = mapped_column(Integer)
    item: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(String(1000))
