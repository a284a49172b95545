"""The decision: may this device reach this name now, and why.

:class:`Policy` is an immutable snapshot (rules, registered devices, meetings, mode) that the
I/O edges build from the database and replace wholesale when the revision changes. Nothing
in here touches a socket, a file or the database.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from allowlist.categories import ALLOWED_CATEGORIES, BypassKind, Category, Mode
from allowlist.clock import MeetingClock, meeting_in_session
from allowlist.rules import Rule, RuleSet


class Action(enum.StrEnum):
    ALLOW = "allow"
    REFUSE = "refuse"
    OBSERVE = "observe"  # policy would refuse, but the site is in monitor-only mode


class Kind(enum.StrEnum):
    """Why, as data: the dashboard, reports and ``explain`` switch on this, never on text."""

    UNRESTRICTED = "unrestricted"  # guest, or no meeting in session, or not registered
    ALLOWED = "allowed"  # an allowed category for a restricted device
    PLATFORM = "platform"  # a social platform, refused
    BYPASS = "bypass"  # a way round the gate, refused
    BLOCKED = "blocked"  # IT-blocked name, refused
    UNLISTED = "unlisted"  # default deny, refused


@dataclass(frozen=True, slots=True)
class Member:
    member_id: int
    name: str


@dataclass(frozen=True, slots=True)
class Device:
    device_id: int
    mac: str
    label: str
    member: Member | None  # None: seen/known but not registered to a member


@dataclass(frozen=True, slots=True)
class Restriction:
    restricted: bool
    reason: str
    meeting: MeetingClock | None = None
    device: Device | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    kind: Kind
    category: Category
    platform: str | None
    rule: Rule | None
    reason: str
    domain: str
    restricted: bool
    meeting_id: int | None = None
    device_id: int | None = None
    member_id: int | None = None
    bypass: BypassKind | None = None

    @property
    def refused(self) -> bool:
        return self.action is Action.REFUSE

    def as_dict(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "action": self.action.value,
            "kind": self.kind.value,
            "category": self.category.value,
            "platform": self.platform,
            "rule": None if self.rule is None else self.rule.describe(),
            "rule_domain": None if self.rule is None else self.rule.domain,
            "reason": self.reason,
            "restricted": self.restricted,
            "meeting_id": self.meeting_id,
            "device_id": self.device_id,
            "member_id": self.member_id,
            "bypass": None if self.bypass is None else self.bypass.value,
        }


_KIND_OF = {
    Category.PLATFORM: Kind.PLATFORM,
    Category.BYPASS: Kind.BYPASS,
    Category.BLOCKED: Kind.BLOCKED,
    Category.UNLISTED: Kind.UNLISTED,
}


@dataclass(frozen=True)
class Policy:
    rules: RuleSet
    devices: Mapping[str, Device] = field(default_factory=dict)  # by canonical MAC
    meetings: tuple[MeetingClock, ...] = ()
    mode: Mode = Mode.ENFORCE
    grace: timedelta = timedelta(minutes=5)
    platform_names: Mapping[str, str] = field(default_factory=dict)  # key → display name
    revision: int = 0

    def platform_name(self, key: str | None) -> str | None:
        if key is None:
            return None
        return self.platform_names.get(key, key)

    def meeting_now(self, now: datetime) -> MeetingClock | None:
        return meeting_in_session(self.meetings, now, self.grace)

    def restriction(self, mac: str | None, now: datetime) -> Restriction:
        """Registered member device ∧ meeting in session (DESIGN §4). Mode is applied later:
        monitor-only still *restricts* (decides and records), it just never refuses."""
        device = self.devices.get(mac) if mac else None
        if device is None or device.member is None:
            return Restriction(False, "not a registered member device (guests are never restricted)", device=device)
        meeting = self.meeting_now(now)
        if meeting is None:
            return Restriction(False, "no meeting in session", device=device)
        return Restriction(True, f"{meeting.title} is in session", meeting, device)

    def decide(self, domain: str, mac: str | None, now: datetime) -> Decision:
        return self.decide_for(domain, self.restriction(mac, now))

    def classify(self, domain: str) -> tuple[Rule | None, Category]:
        rule = self.rules.match(domain)
        return rule, (rule.category if rule is not None else Category.UNLISTED)

    def decide_for(self, domain: str, r: Restriction) -> Decision:
        """Hot path: the gate computes the restriction once per client per tick."""
        rule, category = self.classify(domain)
        platform = rule.platform if rule is not None else None
        bypass = rule.bypass if rule is not None else None
        dev, meet = r.device, r.meeting
        ids = dict(
            meeting_id=meet.meeting_id if meet else None,
            device_id=dev.device_id if dev else None,
            member_id=dev.member.member_id if dev and dev.member else None,
        )
        if not r.restricted:
            return Decision(Action.ALLOW, Kind.UNRESTRICTED, category, platform, rule,
                            r.reason, domain, False, bypass=bypass, **ids)  # type: ignore[arg-type]
        if category in ALLOWED_CATEGORIES:
            reason = f"{category.value} is allowed during meetings ({rule.describe() if rule else ''})"
            return Decision(Action.ALLOW, Kind.ALLOWED, category, platform, rule, reason, domain,
                            True, **ids)  # type: ignore[arg-type]
        kind = _KIND_OF[category]
        action = Action.REFUSE if self.mode is Mode.ENFORCE else Action.OBSERVE
        what = {
            Kind.PLATFORM: f"{self.platform_name(platform)} is a social platform",
            Kind.BYPASS: f"{domain} is a way round the gate ({bypass.value if bypass else 'bypass'})",
            Kind.BLOCKED: f"{domain} is blocked by IT",
            Kind.UNLISTED: f"{domain} is not on the allowlist",
        }[kind]
        verb = "refused" if action is Action.REFUSE else "would be refused (monitor-only)"
        return Decision(action, kind, category, platform, rule, f"{what}; {verb} while {r.reason}",
                        domain, True, bypass=bypass, **ids)  # type: ignore[arg-type]
