"""The decision: may this device reach this name now, and why.

:class:`Policy` is an immutable snapshot (rules, registered devices, meetings, mode) that the
I/O edges build from the database and replace wholesale when the revision changes. Nothing
in here touches a socket, a file or the database.
"""

from __future__ import annotations

import enum
import weakref
from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError, dataclass, field, fields
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

from allowlist.categories import ALLOWED_CATEGORIES, BypassKind, Category, Mode
from allowlist.clock import MeetingClock, meeting_in_session
from allowlist.exemptions import Exemptions
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


class Decision(NamedTuple):
    """One answer: what happens to ``domain`` for this device now, and why.

    Immutable like the frozen dataclass it replaced (assignment raises
    :class:`dataclasses.FrozenInstanceError`, equality and hashing are by value and only
    between Decisions, no ordering), but a tuple underneath: the gate makes one for every
    never-seen name, and building a tuple costs a tenth of a frozen dataclass's ``__init__``
    (which goes through ``object.__setattr__`` once per field). ``_replace`` stands in for
    ``dataclasses.replace``.
    """

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

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    # A Decision equals only another Decision: a plain tuple of the same values is not one
    # (returning NotImplemented would let tuple.__eq__ answer for it, reflected).
    def __eq__(self, other: object) -> bool:
        if type(other) is Decision:
            return tuple.__eq__(self, other)
        return False if isinstance(other, tuple) else NotImplemented

    def __ne__(self, other: object) -> bool:
        if type(other) is Decision:
            return tuple.__ne__(self, other)
        return True if isinstance(other, tuple) else NotImplemented

    # __hash__ stays tuple's: NamedTuple sets the methods above on the class after creating
    # it, so defining __eq__ here does not reset __hash__ to None (tests check both).

    # Unordered, as the dataclass was: "is this decision less than that one" means nothing.
    def __lt__(self, other: object) -> bool:
        return NotImplemented

    def __le__(self, other: object) -> bool:
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        return NotImplemented


_KIND_OF = {
    Category.PLATFORM: Kind.PLATFORM,
    Category.BYPASS: Kind.BYPASS,
    Category.BLOCKED: Kind.BLOCKED,
    Category.UNLISTED: Kind.UNLISTED,
}

# Enum members bound once (class attribute access on an Enum is slow in CPython 3.11).
_ALLOW, _REFUSE, _OBSERVE = Action.ALLOW, Action.REFUSE, Action.OBSERVE
_UNRESTRICTED, _ALLOWED = Kind.UNRESTRICTED, Kind.ALLOWED
_K_PLATFORM, _K_BYPASS, _K_BLOCKED = Kind.PLATFORM, Kind.BYPASS, Kind.BLOCKED
_UNLISTED, _ENFORCE = Category.UNLISTED, Mode.ENFORCE
_new_tuple: Callable[..., Any] = tuple.__new__

# Bounds of one policy's decision memo. A phone asks for the same few hundred names all day,
# so a few thousand entries per device cover it; the caps only matter for odd traffic (random
# subdomains, a long-lived snapshot seeing many devices) and then the memo is just emptied.
MEMO_MAX_DECISIONS = 200_000
MEMO_MAX_RESTRICTIONS = 4_096
MEMO_RECENT = 1_024  # first sightings kept before a name earns a place (see _DecisionMemo)

# Everything in a Decision but the name: action, kind, category, platform, rule, reason,
# whether the reason starts with the name (then it is stored without it), bypass.
_Template = tuple[Action, Kind, Category, "str | None", "Rule | None", str, bool,
                  "BypassKind | None"]


def _template(
    rule: Rule | None, r: Restriction, mode: Mode, platform_names: Mapping[str, str]
) -> _Template:
    """The decision for any name that ``rule`` (``None``: no rule) decides, under ``r``.

    Only three reasons mention the name (bypass, blocked, unlisted refusals); for those the
    text after the name is kept and the name is put in front when a decision is made.
    """
    if rule is None:
        category, platform, bypass = _UNLISTED, None, None
    else:
        category, platform, bypass = rule.category, rule.platform, rule.bypass
    if not r.restricted:
        return (_ALLOW, _UNRESTRICTED, category, platform, rule, r.reason, False, bypass)
    if category in ALLOWED_CATEGORIES:
        scope = rule.describe() if rule is not None else ""
        reason = f"{category} is allowed during meetings ({scope})"
        return (_ALLOW, _ALLOWED, category, platform, rule, reason, False, None)
    kind = _KIND_OF[category]
    if mode is _ENFORCE:
        action, verb = _REFUSE, "refused"
    else:
        action, verb = _OBSERVE, "would be refused (monitor-only)"
    tail = f"; {verb} while {r.reason}"
    if kind is _K_PLATFORM:
        name = None if platform is None else platform_names.get(platform, platform)
        return (action, kind, category, platform, rule, f"{name} is a social platform{tail}",
                False, bypass)
    if kind is _K_BYPASS:
        how = bypass if bypass is not None else "bypass"
        what = f" is a way round the gate ({how})"
    elif kind is _K_BLOCKED:
        what = " is blocked by IT"
    else:
        what = " is not on the allowlist"
    return (action, kind, category, platform, rule, what + tail, True, bypass)


class _Answers:
    """What one policy says under one restriction value: the memo tables for names, and
    per matched rule a :func:`_template`, so a never-seen name costs a probe or two and one
    tuple, not a suffix walk, a reason formatted and a Decision built field by field."""

    __slots__ = ("restriction", "decisions", "recent", "templates", "by_parent", "rules",
                 "mode", "platform_names", "ids")

    def __init__(self, rules: RuleSet, mode: Mode, platform_names: Mapping[str, str],
                 r: Restriction) -> None:
        self.restriction = r
        self.decisions: dict[str, Decision] = {}  # names seen at least twice
        self.recent: dict[str, Decision] = {}  # first sightings, on the memo's ring
        # By id(rule): the RuleSet keeps its rules alive as long as the policy.
        self.templates: dict[int, _Template] = {}
        self.by_parent: dict[str, _Template] = {}  # parent → template of RuleSet.under
        self.rules = rules
        self.mode = mode
        self.platform_names = platform_names
        meet, dev = r.meeting, r.device
        member = dev.member if dev is not None else None
        self.ids = (
            True if r.restricted else False,
            meet.meeting_id if meet is not None else None,
            dev.device_id if dev is not None else None,
            member.member_id if member is not None else None,
        )

    def template(self, rule: Rule | None) -> _Template:
        """The template for ``rule``, made and kept if new."""
        template = self.templates.get(id(rule))
        if template is None:
            template = _template(rule, self.restriction, self.mode, self.platform_names)
            self.templates[id(rule)] = template
        return template

    def parent_template(self, parent: str) -> _Template:
        """The template for names under ``parent`` that have no rule of their own, kept."""
        template = self.by_parent[parent] = self.template(self.rules.under(parent))
        return template

    def make(self, domain: str) -> Decision:
        """The decision for ``domain``, computed afresh (the memo's miss path inlines this)."""
        action, kind, category, platform, rule, reason, named, bypass = self.template(
            self.rules.match(domain)
        )
        restricted, meeting_id, device_id, member_id = self.ids
        return _new_tuple(Decision, (
            action, kind, category, platform, rule, domain + reason if named else reason,
            domain, restricted, meeting_id, device_id, member_id, bypass,
        ))


class _DecisionMemo:
    """Decisions one :class:`Policy` has already made, by restriction and then by name.

    Safe because a Policy is an immutable snapshot and a Decision depends only on the policy,
    the name and the *value* of the restriction (nothing in it is mutable). Tables are keyed
    by restriction value, so the fresh-but-equal Restriction the gate builds for a client
    every tick finds the previous tick's answers; an identity index in front of that means
    the (costly) hash of a Restriction is computed once per object, not once per lookup.

    A name's first Decision waits on a FIFO ring of :data:`MEMO_RECENT` first sightings
    (the A/AAAA/HTTPS queries for one name come together, and get that same object); only
    a second sighting moves it into the memo proper (2Q admission). One-off names (random
    subdomains, tracking labels) therefore replace each other instead of piling up: no
    heap growth, and a flood of them cannot push the hot names out. Each first sighting
    frees the one it evicts, so they leave the collector's allocation count where it was:
    keeping them all (or dropping them a generation at a time) set off a collection every
    few hundred names, a cost of the order of the whole decision on a new name.

    :meth:`bind` makes ``decide_for``: a function whose default arguments hold the
    restriction used last and its table, so a repeat lookup is one identity test and one
    dict lookup with no attribute access. The pair is replaced as one tuple, so no thread
    can see a restriction with another one's table. Worst case under threads is a
    duplicated computation, never a wrong answer.
    """

    __slots__ = ("rules", "mode", "platform_names", "current", "by_id", "by_value", "size",
                 "ring_keys", "ring_tables")

    def __init__(self, rules: RuleSet, mode: Mode, platform_names: Mapping[str, str]) -> None:
        self.rules, self.mode, self.platform_names = rules, mode, platform_names  # no cycle
        self.current: _Answers | None = None  # the table decide_for's cells point at
        self.by_id: dict[int, tuple[Restriction, _Answers]] = {}
        self.by_value: dict[Restriction, _Answers] = {}
        self.size = 0  # decisions, parents and templates held, over all tables
        # The ring of first sightings: slot i is name ring_keys[i] in table ring_tables[i].
        self.ring_keys: list[str] = [""] * MEMO_RECENT
        self.ring_tables: list[dict[str, Decision] | None] = [None] * MEMO_RECENT

    def clear(self) -> None:
        """Forget everything. Tables are emptied in place: the closure may point at one."""
        tables = {id(a): a for _, a in self.by_id.values()}
        tables.update((id(a), a) for a in self.by_value.values())
        if self.current is not None:
            tables[id(self.current)] = self.current
        for a in tables.values():
            a.decisions.clear()
            a.recent.clear()
            a.templates.clear()
            a.by_parent.clear()
        for recent in self.ring_tables:
            if recent is not None:
                recent.clear()
        self.by_id = {}
        self.by_value = {}
        self.size = 0

    def answers_for(self, r: Restriction) -> _Answers:
        """The table for ``r``: by identity, else by value, else a new one."""
        entry = self.by_id.get(id(r))
        if entry is not None and entry[0] is r:
            return entry[1]
        answers = None
        try:
            answers = self.by_value.get(r)
        except TypeError:  # something unhashable inside: identity index only
            hashable = False
        else:
            hashable = True
        if answers is None:
            answers = _Answers(self.rules, self.mode, self.platform_names, r)
            if hashable:
                if len(self.by_value) >= MEMO_MAX_RESTRICTIONS:
                    self.by_value = {}
                self.by_value[r] = answers
        if len(self.by_id) >= MEMO_MAX_RESTRICTIONS:
            self.by_id = {}
        # by_id holds r itself, so id(r) cannot be reused by another object while listed.
        self.by_id[id(r)] = (r, answers)
        return answers

    def bind(self) -> Callable[[str, Restriction], Decision]:
        """A fresh ``decide_for`` over this memo (see the class docstring)."""
        memo, at = self, self.rules.at
        current: tuple[Restriction, _Answers] | None = None  # what decide_for's defaults hold
        ring_keys, ring_tables = self.ring_keys, self.ring_tables
        ring_size, pos = len(ring_keys), 0
        ring_last = ring_size - 1

        def miss(domain: str, r: Restriction) -> Decision:
            nonlocal current, pos
            cur = current
            if cur is not None and cur[0] is r:
                answers = cur[1]  # and decide_for has just looked in its table
            else:
                answers = memo.answers_for(r)
                current = (r, answers)
                memo.current = answers
                fn = this()
                if fn is not None:  # one tuple: a thread sees the old pair or the new one
                    fn.__defaults__ = (r, answers.decisions, miss)
                decision = answers.decisions.get(domain)
                if decision is not None:
                    return decision
            # Not in the memo.
            recent = answers.recent
            decision = recent.pop(domain, None)
            if decision is not None:  # seen twice: into the memo proper
                if memo.size >= MEMO_MAX_DECISIONS:
                    memo.clear()
                elif len(recent) > ring_size:  # only if threads raced on the ring
                    recent.clear()
                answers.decisions[domain] = decision
                memo.size += 1
                return decision
            # First sighting: Policy.decide_uncached, with the walk above the name and the
            # template kept per parent and per rule.
            rule = at(domain)
            if rule is not None:
                template = answers.templates.get(id(rule))
                if template is None:
                    template = grow(answers.template, rule)
            else:
                _, dot, parent = domain.partition(".")
                if not dot:
                    template = answers.templates.get(id(None))
                    if template is None:
                        template = grow(answers.template, None)
                else:
                    template = answers.by_parent.get(parent)
                    if template is None:
                        template = grow(answers.parent_template, parent)
            action, kind, category, platform, rule, reason, named, bypass = template
            restricted, meeting_id, device_id, member_id = answers.ids
            decision = _new_tuple(Decision, (
                action, kind, category, platform, rule, domain + reason if named else reason,
                domain, restricted, meeting_id, device_id, member_id, bypass,
            ))
            # On the ring, evicting the oldest first sighting (gone already if promoted).
            i = pos
            old = ring_tables[i]
            if old is not None:
                old.pop(ring_keys[i], None)
            ring_tables[i], ring_keys[i] = recent, domain
            pos = i + 1 if i < ring_last else 0
            recent[domain] = decision
            return decision

        unset = Restriction(False, "no restriction yet")  # never passed in: never `is` r

        def decide_for(domain: str, r: Restriction, _r: Restriction = unset,
                       _table: Mapping[str, Decision] = MappingProxyType({}),
                       _miss: Callable[[str, Restriction], Decision] = miss) -> Decision:
            """``Policy.decide_for``. The last restriction seen, its table and the slow
            path ride in the defaults (never pass them): read as locals, the fastest a
            CPython 3.11 function can get at anything, and swapped as one tuple."""
            if r is _r:
                try:
                    return _table[domain]
                except KeyError:
                    pass
            return _miss(domain, r)

        this = weakref.ref(decide_for)  # miss → decide_for without a reference cycle

        def grow(make: Callable[[Any], _Template], key: Any) -> _Template:
            """A template made and kept (per rule or per parent): counted, within bounds."""
            if memo.size >= MEMO_MAX_DECISIONS:
                memo.clear()
            memo.size += 2  # a parent may bring a template with it
            return make(key)

        return decide_for


@dataclass(frozen=True)
class Policy:
    rules: RuleSet
    devices: Mapping[str, Device] = field(default_factory=dict)  # by canonical MAC
    meetings: tuple[MeetingClock, ...] = ()
    mode: Mode = Mode.ENFORCE
    grace: timedelta = timedelta(minutes=5)
    platform_names: Mapping[str, str] = field(default_factory=dict)  # key → display name
    revision: int = 0
    # The span of time this snapshot answers for: every meeting that can be in session inside
    # it is held. Outside it the holder must reload, config change or not (None: unbounded).
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    exemptions: Exemptions = field(default_factory=Exemptions)  # the clerk's, per meeting
    # Not part of the snapshot's value: a cache of decisions already made (see _DecisionMemo).
    _memo: _DecisionMemo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        memo = _DecisionMemo(self.rules, self.mode, self.platform_names)
        object.__setattr__(self, "_memo", memo)
        # The instance attribute shadows the method below: callers get the memo's closure.
        object.__setattr__(self, "decide_for", memo.bind())

    def __getstate__(self) -> dict[str, object]:
        """Pickle the snapshot's value; the memo (a closure) is rebuilt, not copied."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        self.__post_init__()

    def covers(self, now: datetime) -> bool:
        """Whether this snapshot may answer for ``now`` (False: load a fresh one)."""
        if self.valid_from is not None and now < self.valid_from:
            return False
        return self.valid_until is None or now < self.valid_until

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
        if self.exemptions.exempt(meeting.meeting_id, device.member.member_id, device.device_id):
            return Restriction(False, f"an exception was granted for {meeting.title}",
                               meeting, device)
        return Restriction(True, f"{meeting.title} is in session", meeting, device)

    def decide(self, domain: str, mac: str | None, now: datetime) -> Decision:
        return self.decide_for(domain, self.restriction(mac, now))

    def classify(self, domain: str) -> tuple[Rule | None, Category]:
        rule = self.rules.match(domain)
        return rule, (rule.category if rule is not None else Category.UNLISTED)

    def decide_for(self, domain: str, r: Restriction) -> Decision:
        """Hot path: the gate computes the restriction once per client per tick.

        Each Policy answers this with its memo's closure (set in ``__post_init__``, see
        :class:`_DecisionMemo`): repeat lookups are one identity test and one dict lookup,
        anything else is computed once and remembered. This method is only reached through
        the class (``Policy.decide_for(policy, …)``).
        """
        decide: Callable[[str, Restriction], Decision] = self.__dict__["decide_for"]
        return decide(domain, r)

    def decide_uncached(self, domain: str, r: Restriction) -> Decision:
        """The decision itself, computed afresh (``decide_for`` memoises this)."""
        return _Answers(self.rules, self.mode, self.platform_names, r).make(domain)
