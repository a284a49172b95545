"""What the dashboard pages show, read from the database: the meeting in session, who is in
the room, episodes by member and platform, the feed, the gate's health and readiness.

Read-only; every function takes the caller's Session and an explicit ``now`` so the pages
and their tests agree on one instant. Words come from allowlist.wording; episodes from the
one rule (monitor.evidence.episodes.rule_of), the same the reports and the API use.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from allowlist.categories import Mode
from allowlist.clock import ClerkAction, SessionState
from allowlist.episodes import Episode
from allowlist.events import EventKind
from api.events.episodes import episode_text
from api.events.service import describe, platform_names
from api.meetings.service import ALLOWED_FROM, list_meetings
from api.rules.risk import flagged_rules
from monitor.counters import GateCounters
from monitor.evidence.episodes import query_episodes, rule_of
from monitor.evidence.privacy import PrivacyLevel, site_level
from monitor.heartbeat import GateState, read_heartbeat
from monitor.settings import Settings
from monitor.store.models import Device, Event, Meeting, Member
from monitor.store.policy_loader import enabled_presets, meeting_clock, site_mode

PRESENT_MINUTES = 10  # "in the room now": a device seen on the chamber Wi-Fi this recently
RECENT = timedelta(hours=12)  # between meetings the feed shows this much
ESSENTIAL_PRESETS = ("moderngov", "public-i", "os-connectivity")

TOPOLOGY_TEXT = {
    "inline": ("Inline gateway", "DNS gate and firewall: full enforcement and monitoring."),
    "resolver-only": ("Resolver only", "DNS refusal and logging only: a device that uses "
                      "another resolver or a typed-in address is not stopped."),
    "mirror": ("Mirror port", "Observe and report only: nothing is blocked."),
}
STATE_LABEL = {
    SessionState.SCHEDULED: "Scheduled", SessionState.IN_SESSION: "In session",
    SessionState.ADJOURNED: "Adjourned", SessionState.ENDED: "Ended",
    SessionState.CANCELLED: "Cancelled",
}
ACTION_LABEL = {ClerkAction.START: "Start", ClerkAction.ADJOURN: "Adjourn",
                ClerkAction.RESUME: "Resume", ClerkAction.END: "End"}
ACTION_DONE = {"start": "started", "adjourn": "adjourned", "resume": "resumed", "end": "ended"}


def aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------- site and gate


@dataclass(frozen=True, slots=True)
class Banner:
    level: Literal["danger", "warn", "info"]
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class GateView:
    state: GateState
    seen_at: datetime | None = None
    started_at: datetime | None = None
    enforcing: bool = False
    counters: GateCounters | None = None  # as the last heartbeat carried them
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class SiteView:
    mode: Mode
    topology: str
    topology_title: str
    topology_text: str
    gate: GateView
    banners: tuple[Banner, ...]
    room: str
    privacy_level: PrivacyLevel = PrivacyLevel.FULL  # what is stored (monitor.evidence.privacy)

    @property
    def monitor_only(self) -> bool:
        return self.mode is Mode.MONITOR_ONLY


def gate_view(s: Session, settings: Settings, now: datetime) -> GateView:
    hb = read_heartbeat(s, settings.site.room)
    if hb is None:
        return GateView(GateState.NEVER)
    return GateView(hb.state(now), hb.seen_at, hb.started_at, hb.enforcing_now(now),
                    hb.counters, hb.pid)


def site_view(s: Session, settings: Settings, now: datetime) -> SiteView:
    mode = site_mode(s, settings)
    topology = settings.site.topology
    title, text = TOPOLOGY_TEXT.get(topology, (topology, ""))
    gate = gate_view(s, settings, now)
    banners: list[Banner] = []
    if gate.state is GateState.NEVER:
        banners.append(Banner("danger", "Gate not running",
                              "No gate has reported for this room yet: nothing is being "
                              "blocked or recorded."))
    elif gate.state is GateState.DOWN:
        banners.append(Banner("danger", "Gate down",
                              f"The gate last reported {_ago(now - (gate.seen_at or now))} ago. "
                              "Members' devices are not being restricted or recorded; the "
                              "agenda and webcast still work. Call IT."))
    if mode is Mode.MONITOR_ONLY or topology == "mirror":
        banners.append(Banner("warn", "Monitor-only",
                              "Attempts are recorded but nothing is blocked."))
    elif gate.state is GateState.UP and not gate.enforcing and topology == "inline":
        banners.append(Banner("warn", "Not enforcing",
                              "The gate is running but its firewall table is not in place: "
                              "only DNS answers are refused. Call IT."))
    if topology == "resolver-only":
        banners.append(Banner("info", "Resolver only", TOPOLOGY_TEXT["resolver-only"][1]))
    for r, effect in flagged_rules(s):
        banners.append(Banner("warn", f"Rule for {r.domain}", effect))
    return SiteView(mode, topology, title, text, gate, tuple(banners), settings.site.room,
                    site_level(s.connection()))


def _ago(d: timedelta) -> str:
    secs = int(d.total_seconds())
    if secs < 120:
        return f"{secs} seconds"
    if secs < 7200:
        return f"{secs // 60} minutes"
    return f"{secs // 3600} hours"


# ---------------------------------------------------------------------------- meetings


@dataclass(frozen=True, slots=True)
class MeetingView:
    id: int
    title: str
    committee: str
    start: datetime
    end: datetime
    room: str | None
    in_scope: bool
    status: str
    state: SessionState
    state_label: str
    actual_start: datetime | None  # first clerk start
    actual_end: datetime | None  # clerk end
    since: datetime | None  # when the present state began (clerk action, or the schedule)
    by_schedule: bool  # no clerk action yet: the schedule decides
    actions: tuple[ClerkAction, ...]  # what the clerk may do now
    history: tuple[tuple[str, datetime, str | None], ...]  # (action, at, by)
    end_now: datetime  # the scheduled end with the clerk's extensions so far
    can_extend: bool  # overrunning: the clerk may extend it now
    extended_minutes: int  # in total so far
    end_guessed: bool = False  # the source gave no end: IT should confirm it

    @property
    def elapsed_from(self) -> datetime | None:
        return self.actual_start or (self.start if self.state is SessionState.IN_SESSION
                                     else None)


def meeting_view(m: Meeting, *, grace: timedelta, now: datetime) -> MeetingView:
    clock = meeting_clock(m)
    state = clock.state(now, grace)
    acts = [(a.action, aware(a.at), a.by_user) for a in m.clerk_actions if aware(a.at) <= now]
    # After End then Start, the sitting in progress began at the latest start.
    starts = [at for a, at, _ in acts if a == ClerkAction.START.value][-1:]
    ends = [at for a, at, _ in acts if a == ClerkAction.END.value]
    since = acts[-1][1] if acts else (m.start - grace if state is SessionState.IN_SESSION
                                      else None)
    allowed = tuple(a for a in (ClerkAction.START, ClerkAction.RESUME, ClerkAction.ADJOURN,
                                ClerkAction.END)
                    if state in ALLOWED_FROM[a] and not (a is ClerkAction.START and
                                                         state is SessionState.IN_SESSION))
    if state is SessionState.CANCELLED or not m.in_scope:
        allowed = ()
    return MeetingView(
        m.id, m.title, m.committee_title or m.title, aware(m.start), aware(m.end), m.room,
        m.in_scope, m.status, state, STATE_LABEL[state], starts[0] if starts else None,
        ends[-1] if ends and state is SessionState.ENDED else None, since, not acts, allowed,
        tuple(acts), clock.end_at(now), m.in_scope and clock.can_extend(now, grace),
        sum(e.minutes for e in m.extensions if aware(e.at) <= now), bool(m.end_guessed))


def _ours(m: Meeting, settings: Settings) -> bool:
    return m.removed_at is None and m.room in (None, settings.site.room)


def current_meeting(s: Session, settings: Settings, now: datetime) -> Meeting | None:
    """The meeting the live view follows: in session now (earliest start if several), else
    one the clerk adjourned and has not ended (until 12 h after its scheduled end)."""
    grace = timedelta(minutes=settings.policy.grace_minutes)
    rows = [m for m in list_meetings(s, start=now - timedelta(days=2),
                                     end=now + timedelta(days=2))
            if _ours(m, settings) and m.in_scope]
    live = [m for m in rows if meeting_clock(m).state(now, grace) is SessionState.IN_SESSION]
    if live:
        return min(live, key=lambda m: (m.start, m.id))
    adjourned = [m for m in rows if meeting_clock(m).state(now, grace) is SessionState.ADJOURNED
                 and aware(m.end) + timedelta(hours=12) > now]
    return max(adjourned, key=lambda m: (m.start, m.id)) if adjourned else None


def upcoming_meetings(s: Session, settings: Settings, now: datetime,
                      limit: int = 8) -> list[Meeting]:
    """Meetings still to come: a meeting the clerk ended early (its schedule not yet over)
    has left the list."""
    grace = timedelta(minutes=settings.policy.grace_minutes)
    rows = list_meetings(s, start=now, end=now + timedelta(days=120), limit=200)
    return [m for m in rows if _ours(m, settings)
            and meeting_clock(m).state(now, grace) is not SessionState.ENDED][:limit]


def recent_meetings(s: Session, settings: Settings, now: datetime, *, days: int = 120,
                    limit: int = 100) -> list[Meeting]:
    """Meetings that have begun (by the schedule or the clerk), newest first: what reports
    are about."""
    rows = list_meetings(s, start=now - timedelta(days=days), end=now + timedelta(days=2),
                         limit=1000)
    rows = [m for m in rows if _ours(m, settings)
            and (aware(m.start) <= now or any(aware(a.at) <= now for a in m.clerk_actions))]
    return sorted(rows, key=lambda m: (m.start, m.id), reverse=True)[:limit]


def get_meeting(s: Session, meeting_id: int) -> Meeting | None:
    return s.execute(select(Meeting).options(selectinload(Meeting.clerk_actions))
                     .where(Meeting.id == meeting_id)).scalar_one_or_none()


# ---------------------------------------------------------------------------- members, episodes


@dataclass(slots=True)
class PlatformCount:
    key: str
    name: str
    episodes: int = 0
    lookups: int = 0
    opened: int = 0  # episodes labelled "app or site likely opened"

    @property
    def background(self) -> int:
        return self.episodes - self.opened


@dataclass(slots=True)
class DeviceView:
    id: int
    label: str
    mac: str
    randomised: bool
    last_seen: datetime | None
    present: bool


@dataclass(slots=True)
class MemberRow:
    id: int
    name: str
    devices: list[DeviceView] = field(default_factory=list)
    platforms: list[PlatformCount] = field(default_factory=list)
    bypasses: int = 0
    last_attempt: datetime | None = None
    exempt: bool = False  # the clerk granted an exception for this meeting

    @property
    def status(self) -> Literal["exempt", "present", "absent"]:
        """For the live page: exception granted / in the room / not on the chamber Wi-Fi."""
        return "exempt" if self.exempt else "present" if self.present else "absent"

    @property
    def present(self) -> bool:
        return any(d.present for d in self.devices)

    @property
    def episodes(self) -> int:
        return sum(p.episodes for p in self.platforms)

    @property
    def lookups(self) -> int:
        return sum(p.lookups for p in self.platforms)

    @property
    def opened(self) -> int:
        return sum(p.opened for p in self.platforms)


@dataclass(slots=True)
class FeedItem:
    kind: Literal["episode", "bypass", "outage"]
    at: datetime  # when it last happened (ordering key)
    first: datetime
    text: str
    ongoing: bool = False
    lookups: int = 1
    platform: str | None = None
    label: str | None = None  # episodes: "opened" or "background"


@dataclass(slots=True)
class Activity:
    """Everything the live view and a meeting report show about one meeting (or a window)."""

    members: list[MemberRow]
    platforms: list[PlatformCount]
    feed: list[FeedItem]  # likely-opened episodes, bypasses and outages, newest first
    episodes: int
    lookups: int
    bypasses: int
    last_event_id: int
    opened: int = 0
    background_feed: list[FeedItem] = field(default_factory=list)  # shown apart

    @property
    def background(self) -> int:
        return self.episodes - self.opened


def _window_filter(meeting_id: int | None,
                   since: datetime | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if meeting_id is not None:
        conds.append(Event.meeting_id == meeting_id)
    if since is not None:
        conds.append(Event.ts >= since)
    return conds


def recent_since(now: datetime) -> datetime:
    """Where "the last 12 hours" between meetings begins: to the minute, so that screens
    refreshing within one minute ask for the same window (and can share its episodes)."""
    return (now - RECENT).replace(second=0, microsecond=0)


def activity(s: Session, settings: Settings, *, now: datetime, meeting_id: int | None,
             since: datetime | None = None, feed_limit: int = 60,
             live: bool = True, episodes: list[Episode] | None = None) -> Activity:
    """Episodes and bypasses of a meeting (``meeting_id``), or since ``since`` between
    meetings (default :func:`recent_since`); the members table covers every active member
    with a registered device. ``live=False`` (the meeting is not in session): no episode is
    shown as ongoing. ``episodes``: the same query's episodes, grouped already (the live
    hub keeps those of the recent window between meetings)."""
    rule = rule_of(settings)
    gap = rule.gap
    if meeting_id is None and since is None:
        since = recent_since(now)
    eps: list[Episode] = (episodes if episodes is not None else
                          query_episodes(s, rule=rule, meeting_id=meeting_id, since=since))
    names = platform_names()

    members = list(s.execute(select(Member).options(selectinload(Member.devices))
                             .order_by(Member.name)).scalars())
    device_labels = {d.id: d.label for m in members for d in m.devices}
    member_names = {m.id: m.name for m in members}
    present_after = now - timedelta(minutes=PRESENT_MINUTES)
    rows: dict[int, MemberRow] = {}
    for m in members:
        if not m.active or not m.devices:
            continue
        rows[m.id] = MemberRow(m.id, m.name, [
            DeviceView(d.id, d.label or d.mac, d.mac, d.randomised,
                       aware(d.last_seen) if d.last_seen else None,
                       d.last_seen is not None and aware(d.last_seen) >= present_after)
            for d in sorted(m.devices, key=lambda d: d.id)])

    totals: dict[str, PlatformCount] = {}
    per_member: dict[int, dict[str, PlatformCount]] = defaultdict(dict)
    for ep in eps:
        name = names.get(ep.platform, ep.platform)
        t = totals.setdefault(ep.platform, PlatformCount(ep.platform, name))
        t.episodes += 1
        t.lookups += ep.lookups
        t.opened += ep.opened
        if ep.member_id is None:
            continue
        if ep.member_id not in rows:  # e.g. a member deactivated since; still reported
            rows[ep.member_id] = MemberRow(ep.member_id,
                                           member_names.get(ep.member_id, "Unknown member"))
        pc = per_member[ep.member_id].setdefault(ep.platform, PlatformCount(ep.platform, name))
        pc.episodes += 1
        pc.lookups += ep.lookups
        pc.opened += ep.opened

    conds = _window_filter(meeting_id, since)
    last_q = (select(Event.member_id, func.max(Event.ts), func.count())
              .where(Event.kind.in_((EventKind.ATTEMPT, EventKind.BYPASS)),
                     Event.member_id.is_not(None), *conds)
              .group_by(Event.member_id))
    last = {mid: (aware(ts), n) for mid, ts, n in s.execute(last_q)}
    byp_q = (select(Event.member_id, func.count()).where(Event.kind == EventKind.BYPASS,
                                                         Event.member_id.is_not(None), *conds)
             .group_by(Event.member_id))
    bypasses = {mid: int(n) for mid, n in s.execute(byp_q)}
    for mid, row in rows.items():
        row.platforms = sorted(per_member.get(mid, {}).values(),
                               key=lambda p: (-p.episodes, p.name))
        row.bypasses = int(bypasses.get(mid, 0))
        row.last_attempt = last[mid][0] if mid in last else None

    feed: list[FeedItem] = []
    background: list[FeedItem] = []
    for ep in eps:
        text = episode_text(ep, member=member_names.get(ep.member_id) if ep.member_id else None,
                            device=device_labels.get(ep.device_id) if ep.device_id else None)
        (feed if ep.opened else background).append(
            FeedItem("episode", aware(ep.last), aware(ep.first), text,
                     live and ep.ongoing(now, gap), ep.lookups, ep.platform, ep.label.value))
    ev_q = (select(Event).where(Event.kind.in_((EventKind.BYPASS, EventKind.OUTAGE)), *conds)
            .order_by(Event.id.desc()).limit(feed_limit))
    if meeting_id is not None:  # outages carry no meeting: take those during the meeting
        mtg = s.get(Meeting, meeting_id)
        start = aware(mtg.start) - timedelta(hours=1) if mtg is not None else now - RECENT
        ev_q = (select(Event).where(
            ((Event.kind == EventKind.BYPASS) & (Event.meeting_id == meeting_id))
            | ((Event.kind == EventKind.OUTAGE) & (Event.ts >= start)))
            .order_by(Event.id.desc()).limit(feed_limit))
    for e in s.execute(ev_q).scalars():
        text = describe(e.kind, e.action, e.platform, e.domain,
                        device_labels.get(e.device_id) if e.device_id else None,
                        member_names.get(e.member_id) if e.member_id else None, e.detail,
                        e.channels)
        kind: Literal["bypass", "outage"] = "bypass" if e.kind == EventKind.BYPASS else "outage"
        feed.append(FeedItem(kind, aware(e.ts), aware(e.ts), text, platform=e.platform))
    feed.sort(key=lambda f: f.at, reverse=True)
    background.sort(key=lambda f: f.at, reverse=True)

    platforms = sorted(totals.values(), key=lambda p: (-p.opened, -p.episodes, -p.lookups,
                                                       p.name))
    ordered = sorted(rows.values(), key=lambda r: r.name.casefold())
    return Activity(ordered, platforms, feed[:feed_limit], sum(p.episodes for p in platforms),
                    sum(p.lookups for p in platforms), sum(bypasses.values()),
                    last_event_id(s), sum(p.opened for p in platforms),
                    background[:feed_limit])


MemberSort = Literal["name", "activity", "status"]
MEMBER_SORTS: dict[str, str] = {"name": "Name", "activity": "Most activity",
                                "status": "Not on the Wi-Fi first"}
_STATUS_ORDER = {"absent": 0, "exempt": 1, "present": 2}


def sort_members(rows: list[MemberRow], by: str) -> list[MemberRow]:
    """The live page's member tiles in the order the clerk chose (name by default)."""
    name = [r.name.casefold() for r in rows]
    keyed = list(zip(name, rows, strict=True))
    if by == "activity":
        keyed.sort(key=lambda k: (-(k[1].episodes + k[1].bypasses), k[0]))
    elif by == "status":
        keyed.sort(key=lambda k: (_STATUS_ORDER[k[1].status], k[0]))
    else:
        keyed.sort(key=lambda k: k[0])
    return [r for _, r in keyed]


def last_event_id(s: Session) -> int:
    return int(s.execute(select(func.max(Event.id))).scalar() or 0)


# ---------------------------------------------------------------------------- readiness


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Literal["ok", "warn", "fail"]
    text: str


def readiness(s: Session, settings: Settings, site: SiteView,
              next_meeting: Meeting | None) -> list[Check]:
    """Is the chamber ready for the next meeting? Plain words, one line each."""
    out: list[Check] = []
    g = site.gate
    if g.state is GateState.UP:
        out.append(Check("Gate", "ok", "Running and reporting every few seconds."))
    elif g.state is GateState.DOWN:
        out.append(Check("Gate", "fail", "Not reporting: nothing will be blocked or recorded."))
    else:
        out.append(Check("Gate", "fail", "Has never run for this room."))
    if site.topology == "inline":
        if g.enforcing:
            out.append(Check("Firewall", "ok", "The gate's firewall table is in place."))
        elif site.monitor_only:
            out.append(Check("Firewall", "warn", "Not in use: the site is in monitor-only mode."))
        else:
            out.append(Check("Firewall", "fail" if g.state is GateState.UP else "warn",
                             "The gate reports no firewall table (nftables)."))
    else:
        out.append(Check("Firewall", "warn", f"{site.topology_title}: {site.topology_text}"))
    out.extend(component_checks(s, settings))
    out.append(Check("Mode", "warn" if site.monitor_only else "ok",
                     "Monitor-only: attempts are recorded, nothing is blocked."
                     if site.monitor_only else "Enforcing during meetings."))
    on = set(enabled_presets(s, settings))
    missing = [p for p in ESSENTIAL_PRESETS if p not in on]
    if missing:
        out.append(Check("Allowlist presets", "fail",
                         f"Off: {', '.join(missing)}. Members may lose their papers, the "
                         "webcast, or the Wi-Fi itself."))
    else:
        out.append(Check("Allowlist presets", "ok",
                         "Agenda, webcast and phone connectivity checks are allowed."))
    for r, effect in flagged_rules(s):
        out.append(Check(f"Rule for {r.domain}", "fail", effect))
    n = s.execute(select(func.count()).select_from(Device).join(Member)
                  .where(Member.active.is_(True))).scalar_one()
    out.append(Check("Registered devices", "ok" if n else "fail",
                     f"{n} member device{'s' if n != 1 else ''} registered."
                     if n else "No member devices are registered: nothing will be restricted."))
    if next_meeting is None:
        out.append(Check("Schedule", "warn", "No upcoming meeting is scheduled for this room."))
    elif not next_meeting.in_scope:
        out.append(Check("Schedule", "warn",
                         f"The next meeting ({next_meeting.committee_title or next_meeting.title})"
                         " is outside the policy's scope: it restricts nothing."))
    else:
        out.append(Check("Schedule", "ok", "The next meeting is in scope."))
    return out


def component_checks(s: Session, settings: Settings) -> list[Check]:
    """One line per supervised part beyond the gate and firewall (their lines are above),
    from the typed health in the gate's heartbeat."""
    from dashboard.health import check_status, health_view
    from monitor.health import Component, State

    hv = health_view(s, settings, datetime.now(UTC))
    out: list[Check] = []
    for h in hv.components:
        if h.component is Component.GATE or (h.component is Component.FIREWALL
                                              and h.state is not State.DOWN):
            continue
        text = h.state.value.capitalize() + (f": {h.why}" if h.why else "")
        out.append(Check(h.label, check_status(h, settings.site.topology), text))  # type: ignore[arg-type]
    return out


# ---------------------------------------------------------------------------- chart


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # as drawn (long names cut)
    name: str
    value: int
    note: str
    y: int
    width: int
    percent: int = 0  # of the longest bar: the HTML chart's bar length (labels are text)


@dataclass(frozen=True, slots=True)
class Chart:
    bars: tuple[Bar, ...]
    height: int
    label_width: int
    bar_max: int
    row: int
    width: int

    @property
    def summary(self) -> str:
        if not self.bars:
            return "No platform contacts recorded."
        return "; ".join(f"{b.name}: {b.note}" for b in self.bars) + "."


CHART_LABEL_CHARS = 16


def bar_chart(platforms: list[PlatformCount], *, width: int = 480, label_width: int = 140,
              row: int = 32) -> Chart:
    """Geometry for the per-platform bar chart, drawn as inline SVG with presentation
    attributes (the CSP forbids style attributes). Bars scale to the most episodes; each bar
    carries its numbers as text, and the chart's title lists them all for screen readers."""
    value_space = 160
    bar_max = width - label_width - value_space
    top = max((p.episodes for p in platforms), default=0)
    bars = []
    for i, p in enumerate(platforms):
        w = 0 if top == 0 else max(4, round(bar_max * p.episodes / top))
        note = (f"{p.episodes} episode{'s' if p.episodes != 1 else ''}, "
                f"{p.lookups} lookup{'s' if p.lookups != 1 else ''}")
        label = p.name if len(p.name) <= CHART_LABEL_CHARS else p.name[:CHART_LABEL_CHARS - 1] + "…"
        pct = 0 if top == 0 else max(2, round(100 * p.episodes / top))
        bars.append(Bar(label, p.name, p.episodes, note, i * row, w, pct))
    return Chart(tuple(bars), max(row, len(bars) * row), label_width, bar_max, row, width)
