"""Decisions: who is restricted, what passes, and why — as data (DESIGN §3, §4)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

import pytest

from allowlist import decision as decision_module
from allowlist.categories import BypassKind, Category, Mode, Origin
from allowlist.clock import MeetingClock
from allowlist.decision import Action, Decision, Device, Kind, Member, Policy, Restriction
from allowlist.rules import RuleSet

from .conftest import DEMOCRACY, GUEST_MAC, MEMBER_MAC, UNREGISTERED_MAC, WEBCAST, make_policy


@pytest.fixture()
def during(meeting: MeetingClock) -> datetime:
    return meeting.start + timedelta(minutes=30)


@pytest.fixture()
def before(meeting: MeetingClock) -> datetime:
    return meeting.start - timedelta(hours=2)


@pytest.mark.parametrize(
    ("name", "action", "kind", "category", "platform"),
    [
        (DEMOCRACY, Action.ALLOW, Kind.ALLOWED, Category.AGENDA, None),
        ("mgdocs." + DEMOCRACY, Action.ALLOW, Kind.ALLOWED, Category.AGENDA, None),
        ("other.moderngov.co.uk", Action.ALLOW, Kind.ALLOWED, Category.AGENDA, None),
        ("intranet.example.gov.uk", Action.ALLOW, Kind.ALLOWED, Category.AGENDA, None),
        (WEBCAST, Action.ALLOW, Kind.ALLOWED, Category.WEBCAST, None),
        ("cl-assets.public-i.tv", Action.ALLOW, Kind.ALLOWED, Category.WEBCAST, None),
        ("edge-7.video.example-cdn.net", Action.ALLOW, Kind.ALLOWED, Category.WEBCAST, None),
        ("captive.apple.com", Action.ALLOW, Kind.ALLOWED, Category.ESSENTIAL, None),
        ("www.google.com", Action.ALLOW, Kind.ALLOWED, Category.ESSENTIAL, None),
        ("r11.o.lencr.org", Action.ALLOW, Kind.ALLOWED, Category.ESSENTIAL, None),
        ("www.instagram.com", Action.REFUSE, Kind.PLATFORM, Category.PLATFORM, "instagram"),
        ("live.staticflickr.com", Action.REFUSE, Kind.PLATFORM, Category.PLATFORM, "flickr"),
        ("api.x.com", Action.REFUSE, Kind.PLATFORM, Category.PLATFORM, "x"),
        ("v16m.tiktokcdn-eu.com", Action.REFUSE, Kind.PLATFORM, Category.PLATFORM, "tiktok"),
        ("mastodon.scot", Action.REFUSE, Kind.PLATFORM, Category.PLATFORM, "mastodon"),
        ("blocked.example.org", Action.REFUSE, Kind.BLOCKED, Category.BLOCKED, None),
        ("maps.google.com", Action.REFUSE, Kind.UNLISTED, Category.UNLISTED, None),
        ("mask.icloud.com", Action.REFUSE, Kind.BYPASS, Category.BYPASS, None),
    ],
)
def test_registered_device_in_a_meeting(
    policy: Policy,
    during: datetime,
    name: str,
    action: Action,
    kind: Kind,
    category: Category,
    platform: str | None,
) -> None:
    d = policy.decide(name, MEMBER_MAC, during)
    assert (d.action, d.kind, d.category, d.platform) == (action, kind, category, platform)
    assert d.restricted and d.domain == name
    assert (d.meeting_id, d.device_id, d.member_id) == (42, 1, 7)
    assert d.refused is (action is Action.REFUSE)
    assert "Full Council is in session" in d.reason or action is Action.ALLOW


def test_reasons_are_neutral_and_name_the_platform(policy: Policy, during: datetime) -> None:
    d = policy.decide("live.staticflickr.com", MEMBER_MAC, during)
    assert d.reason == "Flickr is a social platform; refused while Full Council is in session"
    assert d.rule is not None and d.rule.origin is Origin.CATALOGUE and d.rule.source == "flickr"
    ok = policy.decide("cl-assets.public-i.tv", MEMBER_MAC, during)
    assert ok.reason == (
        "webcast is allowed during meetings (public-i.tv and its subdomains (preset:public-i))"
    )


@pytest.mark.parametrize(
    ("name", "bypass"),
    [
        ("use-application-dns.net", BypassKind.CANARY),
        ("mask.icloud.com", BypassKind.CANARY),
        ("mask-h2.icloud.com", BypassKind.CANARY),
        ("dns.google", BypassKind.DOH),
        ("mozilla.cloudflare-dns.com", BypassKind.DOH),
        ("abc123.dns.nextdns.io", BypassKind.DOH),
        ("one.one.one.one", BypassKind.DOT),
    ],
)
def test_bypass_names_are_their_own_kind(
    policy: Policy, during: datetime, name: str, bypass: BypassKind
) -> None:
    d = policy.decide(name, MEMBER_MAC, during)
    assert (d.action, d.kind, d.category, d.bypass) == (
        Action.REFUSE, Kind.BYPASS, Category.BYPASS, bypass,
    )
    assert d.reason.startswith(f"{name} is a way round the gate ({bypass.value})")


def test_registered_device_outside_meetings_is_unrestricted_but_classified(
    policy: Policy, before: datetime
) -> None:
    d = policy.decide("www.instagram.com", MEMBER_MAC, before)
    assert (d.action, d.kind, d.restricted) == (Action.ALLOW, Kind.UNRESTRICTED, False)
    assert (d.category, d.platform) == (Category.PLATFORM, "instagram")  # still reportable
    assert d.reason == "no meeting in session"
    assert (d.meeting_id, d.device_id, d.member_id) == (None, 1, 7)
    canary = policy.decide("mask.icloud.com", MEMBER_MAC, before)
    assert canary.action is Action.ALLOW and canary.bypass is BypassKind.CANARY


@pytest.mark.parametrize("mac", [GUEST_MAC, UNREGISTERED_MAC, None])
def test_guests_and_unregistered_devices_are_never_restricted(
    policy: Policy, during: datetime, mac: str | None
) -> None:
    d = policy.decide("www.tiktok.com", mac, during)
    assert (d.action, d.kind, d.restricted) == (Action.ALLOW, Kind.UNRESTRICTED, False)
    assert d.reason == "not a registered member device (guests are never restricted)"
    assert d.member_id is None and d.meeting_id is None
    assert d.device_id == (2 if mac == UNREGISTERED_MAC else None)


def test_monitor_only_observes_instead_of_refusing(
    ruleset: RuleSet, meeting: MeetingClock, devices: dict[str, Device], during: datetime
) -> None:
    policy = make_policy(ruleset, meeting, devices, Mode.MONITOR_ONLY)
    d = policy.decide("www.instagram.com", MEMBER_MAC, during)
    assert (d.action, d.kind, d.restricted, d.refused) == (
        Action.OBSERVE, Kind.PLATFORM, True, False,
    )
    assert "would be refused (monitor-only)" in d.reason
    assert policy.decide(DEMOCRACY, MEMBER_MAC, during).action is Action.ALLOW
    assert policy.decide("mask.icloud.com", MEMBER_MAC, during).action is Action.OBSERVE


def test_restriction(policy: Policy, meeting: MeetingClock, during: datetime) -> None:
    r = policy.restriction(MEMBER_MAC, during)
    assert r.restricted and r.meeting == meeting and r.device is not None
    assert r.reason == "Full Council is in session"
    assert not policy.restriction(GUEST_MAC, during).restricted
    assert policy.meeting_now(during) == meeting


def test_classify(policy: Policy) -> None:
    rule, category = policy.classify("www.youtube.com")
    assert category is Category.PLATFORM and rule is not None and rule.platform == "youtube"
    assert policy.classify("nothing.invalid") == (None, Category.UNLISTED)


def test_as_dict_is_json_ready(policy: Policy, during: datetime) -> None:
    d = policy.decide("scontent-lhr8-1.cdninstagram.com", MEMBER_MAC, during).as_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["kind"] == "platform" and d["platform"] == "instagram" and d["action"] == "refuse"
    assert d["rule_domain"] == "cdninstagram.com"
    assert d["rule"] == "cdninstagram.com and its subdomains (catalogue:instagram)"
    unlisted = policy.decide("nothing.invalid", MEMBER_MAC, during).as_dict()
    assert unlisted["rule"] is None and unlisted["bypass"] is None


# --- the memo in decide_for ------------------------------------------------------------------

NAMES = [
    DEMOCRACY, "www.instagram.com", "mask.icloud.com", "dns.google", "maps.google.com",
    "blocked.example.org", "cl-assets.public-i.tv", "live.staticflickr.com", "nothing.invalid",
]


def test_memo_answers_equal_decide_uncached(policy: Policy, during: datetime) -> None:
    restrictions = [policy.restriction(mac, during) for mac in (MEMBER_MAC, GUEST_MAC, None)]
    for _ in range(3):  # first round fills the memo, later rounds read it
        for r in restrictions:
            for name in NAMES:
                assert policy.decide_for(name, r) == policy.decide_uncached(name, r)


def test_memo_reuses_answers_for_equal_restrictions(policy: Policy, during: datetime) -> None:
    first = policy.restriction(MEMBER_MAC, during)
    second = policy.restriction(MEMBER_MAC, during)  # rebuilt next tick: equal, not identical
    assert first == second and first is not second
    d = policy.decide_for("www.instagram.com", first)
    assert policy.decide_for("www.instagram.com", second) is d
    assert policy.decide_for("www.instagram.com", first) is d


def test_memo_keeps_restrictions_apart(policy: Policy, during: datetime) -> None:
    member = policy.restriction(MEMBER_MAC, during)
    guest = policy.restriction(GUEST_MAC, during)
    for _ in range(2):
        assert policy.decide_for("www.instagram.com", member).action is Action.REFUSE
        assert policy.decide_for("www.instagram.com", guest).action is Action.ALLOW


def test_memo_is_per_policy(policy: Policy, during: datetime) -> None:
    r = policy.restriction(MEMBER_MAC, during)
    assert policy.decide_for("www.instagram.com", r).action is Action.REFUSE
    observing = dataclasses.replace(policy, mode=Mode.MONITOR_ONLY)
    assert observing.decide_for("www.instagram.com", r).action is Action.OBSERVE
    assert policy.decide_for("www.instagram.com", r).action is Action.REFUSE
    assert observing == dataclasses.replace(observing)  # the memo is not part of the value


def test_memo_is_bounded(
    policy: Policy, during: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decision_module, "MEMO_MAX_DECISIONS", 10)
    monkeypatch.setattr(decision_module, "MEMO_MAX_RESTRICTIONS", 3)
    r = policy.restriction(MEMBER_MAC, during)
    for i in range(100):
        name = f"n{i}.nothing.invalid"
        assert policy.decide_for(name, r).domain == name
        assert policy._memo.size <= 10
    for _ in range(20):  # a fresh restriction object per call, as policy.decide makes
        policy.decide("www.instagram.com", MEMBER_MAC, during)
        assert len(policy._memo.by_id) <= 3 and len(policy._memo.by_value) <= 3


def test_memo_copes_with_unhashable_restrictions(policy: Policy, during: datetime) -> None:
    odd = Device(9, "02:00:00:00:00:09", ["not", "hashable"], Member(1, "x"))  # type: ignore[arg-type]
    r = Restriction(True, "test", None, odd)
    with pytest.raises(TypeError):
        hash(r)
    d = policy.decide_for("www.instagram.com", r)
    assert d.kind is Kind.PLATFORM and d.device_id == 9
    assert policy.decide_for("www.instagram.com", r) is d  # identity index still works


def test_decision_is_immutable(policy: Policy, during: datetime) -> None:
    d = policy.decide(DEMOCRACY, MEMBER_MAC, during)
    assert isinstance(d, Decision)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.action = Action.REFUSE  # type: ignore[misc]


def test_policy_without_rules_refuses_everything_for_members(
    meeting: MeetingClock, devices: dict[str, Device], during: datetime
) -> None:
    policy = Policy(RuleSet(), devices, (meeting,))
    d = policy.decide("example.com", MEMBER_MAC, during)
    assert (d.kind, d.action, d.platform) == (Kind.UNLISTED, Action.REFUSE, None)
    assert policy.platform_name("instagram") == "instagram"  # no names given: key shown
    assert policy.platform_name(None) is None
