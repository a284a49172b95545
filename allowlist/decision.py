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

# Enum members bound once for Policy.decide_uncached (see there for why).
_ALLOW, _REFUSE, _OBSERVE = Action.ALLOW, Action.REFUSE, Action.OBSERVE
_UNRESTRICTED, _ALLOWED = Kind.UNRESTRICTED, Kind.ALLOWED
_K_PLATFORM, _K_BYPASS, _K_BLOCKED = Kind.PLATFORM, Kind.BYPASS, Kind.BLOCKED
_UNLISTED, _ENFORCE = Category.UNLISTED, Mode.ENFORCE

# Bounds of one policy's decision memo. A phone asks for the same few hundred names all day,
# so a few thousand entries per device cover it; the caps only matter for odd traffic (random
# subdomains, a long-lived snapshot seeing many devices) and then the memo is just emptied.
MEMO_MAX_DECISIONS = 200_000
MEMO_MAX_RESTRICTIONS = 4_096


class _DecisionMemo:
    """Decisions one :class:`Policy` has already made, by restriction and then by name.

    Safe because a Policy is an immutable snapshot and a Decision depends only on the policy,
    the name and the *value* of the restriction (nothing in it is mutable). Tables are keyed
    by restriction value, so the fresh-but-equal Restriction the gate builds for a client
    every tick finds the previous tick's answers; an identity index in front of that means
    the (costly) hash of a Restriction is computed once per object, not once per lookup.
    ``last`` is the table used most recently: the hot path is one identity test and one dict
    lookup. Worst case under threads is a duplicated computation, never a wrong answer.
    """

    __slots__ = ("last", "by_id", "by_value", "size")

    def __init__(self) -> None:
        self.last: tuple[Restriction | None, dict[str, Decision]] = (None, {})
        self.by_id: dict[int, tuple[Restriction, dict[str, Decision]]] = {}
        self.by_value: dict[Restriction, dict[str, Decision]] = {}
        self.size = 0

    def clear(self) -> None:
        self.last = (None, {})
        self.by_id = {}
        self.by_value = {}
        self.size = 0

    def _table_for(self, r: Restriction) -> dict[str, Decision]:
        try:
            table = self.by_value.get(r)
        except TypeError:  # something unhashable inside: fall back to identity only
            return {}
        if table is None:
            if len(self.by_value) >= MEMO_MAX_RESTRICTIONS:
                self.by_value = {}
            table = self.by_value[r] = {}
        return table

    def miss(self, policy: Policy, domain: str, r: Restriction) -> Decision:
        """Slow path of :meth:`Policy.decide_for`: find or make the table, then the answer."""
        if self.size >= MEMO_MAX_DECISIONS:
            self.clear()
        # by_id holds r itself, so id(r) cannot be reused by another object while listed.
        entry = self.by_id.get(id(r))
        if entry is None or entry[0] is not r:
            if len(self.by_id) >= MEMO_MAX_RESTRICTIONS:
                self.by_id = {}
            entry = (r, self._table_for(r))
            self.by_id[id(r)] = entry
        self.last = entry
        table = entry[1]
        decision = table.get(domain)
        if decision is None:
            decision = table[domain] = policy.decide_uncached(domain, r)
            self.size += 1
        return decision


@dataclass(frozen=True)
class Policy:
    rules: RuleSet
    devices: Mapping[str, Device] = field(default_factory=dict)  # by canonical MAC
    meetings: tuple[MeetingClock, ...] = ()
    mode: Mode = Mode.ENFORCE
    grace: timedelta = timedelta(minutes=5)
    platform_names: Mapping[str, str] = field(default_factory=dict)  # key → display name
    revision: int = 0
    # Not part of the snapshot's value: a cache of decisions already made (see _DecisionMemo).
    _memo: _DecisionMemo = field(
        default_factory=_DecisionMemo, init=False, repr=False, compare=False
    )

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
            return Restriction(
                False, "not a registered member device (guests are never restricted)",
                device=device,
            )
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
        """Hot path: the gate computes the restriction once per client per tick.

        Repeat lookups are answered from the policy's memo: one identity test and one dict
        lookup. Anything else goes through :meth:`decide_uncached` and is remembered.
        """
        last = self._memo.last
        if last[0] is r:
            try:
                return last[1][domain]
            except KeyError:
                pass
        return self._memo.miss(self, domain, r)

    def decide_uncached(self, domain: str, r: Restriction) -> Decision:
        """The decision itself, computed afresh (``decide_for`` memoises this).

        Runs once per never-seen name, so enum members come from module constants (class
        attribute access on an Enum is slow in CPython 3.11) and str-enums are formatted
        directly (``f"{category}"`` is the value for a StrEnum).
        """
        rule = self.rules.match(domain)
        if rule is None:
            category, platform, bypass = _UNLISTED, None, None
        else:
            category, platform, bypass = rule.category, rule.platform, rule.bypass
        meet, dev = r.meeting, r.device
        meeting_id = meet.meeting_id if meet is not None else None
        if dev is None:
            device_id = member_id = None
        else:
            member = dev.member
            device_id, member_id = dev.device_id, member.member_id if member is not None else None
        if not r.restricted:
            return Decision(_ALLOW, _UNRESTRICTED, category, platform, rule, r.reason,
                            domain, False, meeting_id, device_id, member_id, bypass)
        if category in ALLOWED_CATEGORIES:
            scope = rule.describe() if rule is not None else ""
            reason = f"{category} is allowed during meetings ({scope})"
            return Decision(_ALLOW, _ALLOWED, category, platform, rule, reason,
                            domain, True, meeting_id, device_id, member_id)
        kind = _KIND_OF[category]
        if self.mode is _ENFORCE:
            action, verb = _REFUSE, "refused"
        else:
            action, verb = _OBSERVE, "would be refused (monitor-only)"
        if kind is _K_PLATFORM:
            what = f"{self.platform_name(platform)} is a social platform"
        elif kind is _K_BYPASS:
            how = bypass if bypass is not None else "bypass"
            what = f"{domain} is a way round the gate ({how})"
        elif kind is _K_BLOCKED:
            what = f"{domain} is blocked by IT"
        else:
            what = f"{domain} is not on the allowlist"
        return Decision(action, kind, category, platform, rule, f"{what}; {verb} while {r.reason}",
                        domain, True, meeting_id, device_id, member_id, bypass)
