"""Database → :class:`allowlist.decision.Policy` snapshot (the gate's only view of config)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from allowlist.builder import build_ruleset
from allowlist.catalogue import PlatformEntry, load_catalogue
from allowlist.categories import Category, Mode, Origin
from allowlist.clock import ClerkAction, ClerkEvent, Extension, MeetingClock
from allowlist.decision import Device, Member, Policy
from allowlist.exemptions import Exemption, Exemptions
from allowlist.rules import Rule
from monitor.settings import Settings
from monitor.store import models as m
from monitor.store.revision import current_revision

# Meetings further than this from the load time are left out to keep the snapshot small;
# the snapshot's ``valid_until`` stops short of the window's edge so nothing is missed.
WINDOW = timedelta(days=2)
# A snapshot is reloaded at least this often, config change or not: a gate that runs for
# weeks never answers from a schedule older than this.
REFRESH = timedelta(hours=1)


def validity(now: datetime, grace: timedelta, window: timedelta = WINDOW
             ) -> tuple[datetime, datetime]:
    """(valid_from, valid_until) of a snapshot loaded at ``now`` holding the meetings of
    ``now ± window``: a meeting in session at any t in the span starts at most ``grace``
    after t (≤ now + window) and ends at most ``grace`` before t (≥ now - window)."""
    if grace >= window:
        raise ValueError("grace must be shorter than the snapshot window")
    return now - window + grace, now + min(REFRESH, window - grace)


def site_mode(s: Session, settings: Settings) -> Mode:
    site = s.get(m.Site, 1)
    return Mode(site.mode) if site is not None and site.mode else settings.site.mode


def enabled_presets(s: Session, settings: Settings) -> list[str]:
    rows = s.execute(select(m.PresetRow)).scalars().all()
    if not rows:
        return list(settings.policy.presets)
    return sorted(r.key for r in rows if r.enabled)


def it_rules(s: Session) -> list[Rule]:
    return [
        Rule(
            r.domain,
            Category(r.category),
            platform=r.platform,
            exact=r.exact,
            note=r.note,
            origin=Origin.IT,
            rule_id=r.id,
        )
        for r in s.execute(select(m.RuleRow)).scalars()
    ]


def extra_platforms(s: Session) -> list[PlatformEntry]:
    """IT's additions to the platform catalogue, one entry per platform key."""
    names: dict[str, str | None] = {}
    suffixes: dict[str, list[str]] = {}
    for r in s.execute(select(m.PlatformDomainRow).order_by(m.PlatformDomainRow.id)).scalars():
        names.setdefault(r.platform, r.name)
        suffixes.setdefault(r.platform, []).append(r.domain)
    return [PlatformEntry(key, tuple(doms), names[key]) for key, doms in suffixes.items()]


def meeting_clock(row: m.Meeting) -> MeetingClock:
    return MeetingClock(
        meeting_id=row.id,
        title=row.title,
        start=row.start,
        end=row.end,
        cancelled=row.status == "cancelled" or row.removed_at is not None,
        room=row.room,
        clerk=tuple(ClerkEvent(ClerkAction(a.action), a.at) for a in row.clerk_actions),
        extensions=tuple(Extension(timedelta(minutes=e.minutes), e.at) for e in row.extensions),
    )


def load_exemptions(s: Session, meeting_ids: list[int]) -> Exemptions:
    """The clerk's standing (not withdrawn) exceptions for these meetings."""
    if not meeting_ids:
        return Exemptions()
    rows = s.execute(select(m.MeetingExemptionRow)
                     .where(m.MeetingExemptionRow.meeting_id.in_(meeting_ids))
                     .where(m.MeetingExemptionRow.withdrawn_at.is_(None))).scalars()
    return Exemptions.of(Exemption(r.meeting_id, r.member_id, r.device_id) for r in rows)


def load_meetings(
    s: Session, *, room: str | None, around: datetime, window: timedelta = WINDOW
) -> tuple[MeetingClock, ...]:
    q = (
        select(m.Meeting)
        .options(selectinload(m.Meeting.clerk_actions))
        .where(m.Meeting.in_scope.is_(True))
        .where(m.Meeting.start <= around + window)
        .where(m.Meeting.end >= around - window)
    )
    rows = s.execute(q).scalars().all()
    return tuple(meeting_clock(r) for r in rows if room is None or r.room in (None, room))


def load_devices(s: Session) -> dict[str, Device]:
    rows = s.execute(select(m.Device).options(selectinload(m.Device.member))).scalars()
    out: dict[str, Device] = {}
    for d in rows:
        member = d.member
        owner = Member(member.id, member.name) if member is not None and member.active else None
        out[d.mac] = Device(d.id, d.mac, d.label, owner)
    return out


def load_policy(s: Session, settings: Settings, now: datetime) -> Policy:
    extra = extra_platforms(s)
    catalogue = load_catalogue(extra)
    rules = build_ruleset(
        it_rules=it_rules(s),
        enabled_presets=enabled_presets(s, settings),
        democracy_host=settings.policy.democracy_host,
        webcast_host=settings.policy.webcast_host,
        extra_platforms=extra,
    )
    meetings = load_meetings(s, room=settings.site.room, around=now)
    grace = timedelta(minutes=settings.policy.grace_minutes)
    valid_from, valid_until = validity(now, grace)
    return Policy(
        rules=rules,
        devices=load_devices(s),
        meetings=meetings,
        mode=site_mode(s, settings),
        grace=grace,
        platform_names=catalogue.names(),
        revision=current_revision(s),
        valid_from=valid_from,
        valid_until=valid_until,
        exemptions=load_exemptions(s, [c.meeting_id for c in meetings]),
    )
