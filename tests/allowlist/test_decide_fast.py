"""The fast decision path against a straightforward reference (DESIGN §4, issue #3).

``Policy.decide_for`` memoises, keeps per-rule templates, caches the suffix walk by parent
and admits names to its memo on their second sighting. None of that may change an answer:
every property here compares it with :func:`reference_decision`, written the obvious way
(every rule tried, reason formatted, Decision built by keyword), over random rule sets,
names, restrictions and call orders.
"""

from __future__ import annotations

import dataclasses
import gc
import pickle
import threading
import weakref
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allowlist import decision as decision_module
from allowlist.categories import ALLOWED_CATEGORIES, BypassKind, Category, Mode
from allowlist.clock import MeetingClock
from allowlist.decision import Action, Decision, Device, Kind, Member, Policy, Restriction
from allowlist.names import normalise_domain
from allowlist.rules import Rule, RuleSet

# --- the reference ---------------------------------------------------------------------------


def reference_match(rules: list[Rule], name: str) -> Rule | None:
    """Longest suffix on label boundaries, trying every rule; at the name itself an exact
    rule beats a suffix rule. ``rules`` are a compiled set's (one per domain and kind)."""
    best: Rule | None = None
    for rule in rules:
        if rule.exact:
            hit = name == rule.domain
        else:
            hit = name == rule.domain or name.endswith("." + rule.domain)
        if not hit:
            continue
        if best is None or len(rule.domain) > len(best.domain):
            best = rule
        elif len(rule.domain) == len(best.domain) and rule.exact:
            best = rule
    return best


_KIND = {
    Category.PLATFORM: Kind.PLATFORM,
    Category.BYPASS: Kind.BYPASS,
    Category.BLOCKED: Kind.BLOCKED,
    Category.UNLISTED: Kind.UNLISTED,
}


def reference_decision(policy: Policy, name: str, r: Restriction) -> Decision:
    """What the decision must be, spelt out (the pre-optimisation ``decide_uncached``)."""
    rule = reference_match(policy.rules.rules(), name)
    category = rule.category if rule else Category.UNLISTED
    platform = rule.platform if rule else None
    bypass = rule.bypass if rule else None
    meeting_id = r.meeting.meeting_id if r.meeting else None
    device_id = r.device.device_id if r.device else None
    member = r.device.member if r.device else None
    member_id = member.member_id if member else None
    common = dict(category=category, platform=platform, rule=rule, domain=name,
                  meeting_id=meeting_id, device_id=device_id, member_id=member_id)
    if not r.restricted:
        return Decision(action=Action.ALLOW, kind=Kind.UNRESTRICTED, reason=r.reason,
                        restricted=False, bypass=bypass, **common)  # type: ignore[arg-type]
    if category in ALLOWED_CATEGORIES:
        scope = rule.describe() if rule else ""
        return Decision(action=Action.ALLOW, kind=Kind.ALLOWED, restricted=True,
                        reason=f"{category.value} is allowed during meetings ({scope})",
                        **common)  # type: ignore[arg-type]
    kind = _KIND[category]
    if policy.mode is Mode.ENFORCE:
        action, verb = Action.REFUSE, "refused"
    else:
        action, verb = Action.OBSERVE, "would be refused (monitor-only)"
    if kind is Kind.PLATFORM:
        what = f"{policy.platform_name(platform)} is a social platform"
    elif kind is Kind.BYPASS:
        what = f"{name} is a way round the gate ({bypass.value if bypass else 'bypass'})"
    elif kind is Kind.BLOCKED:
        what = f"{name} is blocked by IT"
    else:
        what = f"{name} is not on the allowlist"
    return Decision(action=action, kind=kind, restricted=True, bypass=bypass,
                    reason=f"{what}; {verb} while {r.reason}", **common)  # type: ignore[arg-type]


# --- strategies ------------------------------------------------------------------------------

# Few labels, so rules and names collide often; "ample"/"example" and "x"/"xample" test label
# boundaries, the xn-- labels are IDNs in A-label form (as normalise_domain gives them).
LABELS = ["com", "uk", "co", "example", "ample", "xample", "e", "x", "www", "cdn", "a",
          normalise_domain("bücher.de").split(".")[0], normalise_domain("例え.jp").split(".")[0]]
_label = st.sampled_from(LABELS)
_domain = st.lists(_label, min_size=1, max_size=4).map(".".join)
_name = st.lists(_label, min_size=1, max_size=6).map(".".join)


@st.composite
def _rule(draw: st.DrawFn) -> Rule:
    category = draw(st.sampled_from(list(Category)))
    return Rule(
        draw(_domain),
        category,
        platform=draw(st.sampled_from(["instagram", "x", "mystery"]))
        if category is Category.PLATFORM else None,
        exact=draw(st.booleans()),
        bypass=draw(st.sampled_from([None, *BypassKind])) if category is Category.BYPASS
        else None,
    )


START = datetime(2026, 11, 26, 18, tzinfo=UTC)
MEETING = MeetingClock(42, "Full Council", START, START + timedelta(hours=3))
MEMBER = Device(1, "02:00:00:00:00:01", "phone", Member(7, "Cllr Jones"))
STRANGER = Device(2, "02:00:00:00:00:02", "tablet", None)


def restrictions() -> list[Restriction]:
    """Fresh objects every call: equal values, new identities, as the gate makes them."""
    return [
        Restriction(True, "Full Council is in session", MEETING, MEMBER),
        Restriction(True, "a meeting is in session"),  # the admin UI's "during" verdict
        Restriction(False, "no meeting in session", device=MEMBER),
        Restriction(False, "not a registered member device (guests are never restricted)",
                    device=STRANGER),
        Restriction(False, "not a registered member device (guests are never restricted)"),
    ]


def make_policy(rules: list[Rule], mode: Mode = Mode.ENFORCE) -> Policy:
    return Policy(RuleSet.compile(rules), {MEMBER.mac: MEMBER}, (MEETING,), mode,
                  platform_names={"instagram": "Instagram", "x": "X"})


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(rules=st.lists(_rule(), max_size=12), names=st.lists(_name, min_size=1, max_size=30))
def test_match_is_the_reference_walk(rules: list[Rule], names: list[str]) -> None:
    rs = RuleSet.compile(rules)
    for name in names:
        expected = reference_match(rs.rules(), name)
        assert rs.match(name) is expected
        head, dot, parent = name.partition(".")
        if dot:  # match = at(name) or under(parent), whatever the first label
            assert rs.match(name) is (rs.at(name) or rs.under(parent))


@settings(max_examples=300, deadline=None)
@given(
    rules=st.lists(_rule(), max_size=12),
    calls=st.lists(st.tuples(_name, st.integers(0, 4), st.booleans()), min_size=1, max_size=60),
    mode=st.sampled_from(list(Mode)),
)
def test_decide_for_is_the_reference_decision(
    rules: list[Rule], calls: list[tuple[str, int, bool]], mode: Mode
) -> None:
    """Any order of names and restrictions (repeats, equal-but-new restriction objects):
    every answer is the reference's, so the memo never answers for another restriction."""
    policy = make_policy(rules, mode)
    first = restrictions()
    for name, which, fresh in calls:
        r = restrictions()[which] if fresh else first[which]
        expected = reference_decision(policy, name, r)
        got = policy.decide_for(name, r)
        assert got == expected and type(got) is Decision
        assert got.as_dict() == expected.as_dict()
        assert policy.decide_uncached(name, r) == expected


@settings(max_examples=100, deadline=None)
@given(rules=st.lists(_rule(), max_size=12), names=st.lists(_name, min_size=1, max_size=40))
def test_ample_never_matches_example(rules: list[Rule], names: list[str]) -> None:
    policy = make_policy([*rules, Rule("ample.com", Category.BLOCKED)])
    r = restrictions()[0]
    for name in ["example.com", "www.example.com", "xample.com", *names]:
        d = policy.decide_for(name, r)
        if name == "ample.com" or name.endswith(".ample.com"):
            assert d.rule is not None and d.rule.domain.endswith("ample.com")
        else:
            assert d.rule is None or d.rule.domain != "ample.com"


def test_idn_names_meet_their_rules() -> None:
    policy = make_policy([Rule.make("bücher.de", "blocked"), Rule.make("例え.jp", "agenda")])
    r = restrictions()[0]
    for _ in range(3):  # first sighting, promotion, memo
        d = policy.decide_for(normalise_domain("shop.BÜCHER.de"), r)
        assert d.kind is Kind.BLOCKED and d.domain == "shop.xn--bcher-kva.de"
        assert d.reason.startswith("shop.xn--bcher-kva.de is blocked by IT; refused while")
        assert policy.decide_for(normalise_domain("例え.jp"), r).kind is Kind.ALLOWED
        assert policy.decide_for("buecher.de", r).kind is Kind.UNLISTED


def test_exact_rule_at_a_parent_does_not_cover_its_children() -> None:
    """The parent cache must not hand a child the parent's exact rule."""
    exact = Rule("login.example.com", Category.AGENDA, exact=True)
    suffix = Rule("example.com", Category.BLOCKED)
    policy = make_policy([exact, suffix])
    r = restrictions()[0]
    for _ in range(3):
        assert policy.decide_for("login.example.com", r).rule is exact
        assert policy.decide_for("a.login.example.com", r).rule is suffix
        assert policy.decide_for("b.login.example.com", r).rule is suffix


# --- the memo's admission and bounds -------------------------------------------------------


def test_second_sighting_returns_the_first_answer_and_keeps_it() -> None:
    policy = make_policy([Rule("example.com", Category.AGENDA)])
    r = restrictions()[0]
    first = policy.decide_for("a.example.com", r)
    again = policy.decide_for("a.example.com", r)  # A then AAAA: the same object
    assert again is first
    assert policy.decide_for("a.example.com", restrictions()[0]) is first  # equal value
    assert policy._memo.current is not None
    assert "a.example.com" in policy._memo.current.decisions


def test_one_off_names_stay_within_the_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decision_module, "MEMO_RECENT", 8)
    policy = make_policy([Rule("example.com", Category.AGENDA)])
    r = restrictions()[0]
    hot = policy.decide_for("www.example.com", r)
    assert policy.decide_for("www.example.com", r) is hot
    for i in range(100):
        name = f"n{i}.example.com"
        assert policy.decide_for(name, r) == reference_decision(policy, name, r)
        answers = policy._memo.current
        assert answers is not None
        assert len(answers.recent) <= 8 and len(answers.decisions) == 1
    assert policy.decide_for("www.example.com", r) is hot  # one-offs never pushed it out
    late = policy.decide_for("late.example.com", r)
    for i in range(7):  # seven newer first sightings: still on the ring of eight
        policy.decide_for(f"m{i}.example.com", r)
    assert policy.decide_for("late.example.com", r) is late


def test_one_off_names_leave_the_collectors_count_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each first sighting evicts (frees) one: no collection set off by a stream of them."""
    monkeypatch.setattr(decision_module, "MEMO_RECENT", 16)
    policy = make_policy([Rule("example.com", Category.AGENDA)])
    r = restrictions()[0]
    for i in range(50):  # fill the ring, and the parent and template caches
        policy.decide_for(f"w{i}.example.com", r)
    names = [f"n{i}.example.com" for i in range(500)]
    gc.disable()
    try:
        before = gc.get_count()[0]
        for name in names:
            policy.decide_for(name, r)
        assert gc.get_count()[0] - before < 20
    finally:
        gc.enable()


def test_memo_bound_counts_parents_and_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decision_module, "MEMO_MAX_DECISIONS", 10)
    policy = make_policy([Rule("example.com", Category.AGENDA)])
    for i in range(200):
        r = restrictions()[i % 5]
        name = f"x.p{i}.example.com"
        for _ in range(2):
            assert policy.decide_for(name, r) == reference_decision(policy, name, r)
        assert policy._memo.size <= 10 + 2


def test_threads_never_see_another_restrictions_answer() -> None:
    policy = make_policy([
        Rule("example.com", Category.AGENDA), Rule("x.com", Category.PLATFORM, platform="x"),
    ])
    names = [f"n{i % 50}.{'example' if i % 3 else 'x'}.com" for i in range(2000)]
    errors: list[str] = []

    def hammer(which: int) -> None:
        for i, name in enumerate(names):
            r = restrictions()[which] if i % 7 == 0 else mine
            if policy.decide_for(name, r) != reference_decision(policy, name, r):
                errors.append(f"{which} {name}")

    threads = []
    for which in range(5):
        mine = restrictions()[which]
        threads.append(threading.Thread(target=hammer, args=(which,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# --- Decision: immutable, by value, same attributes and as_dict ----------------------------


def _one() -> Decision:
    policy = make_policy([Rule("x.com", Category.PLATFORM, platform="x")])
    return policy.decide_for("api.x.com", restrictions()[0])


def test_decision_is_immutable_and_compared_by_value() -> None:
    d = _one()
    for field in Decision._fields:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(d, field, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.other = 1  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del d.reason  # type: ignore[misc]
    twin = Decision(**{f: getattr(d, f) for f in Decision._fields})
    assert twin == d and not twin != d and hash(twin) == hash(d) and twin is not d
    assert d != d._replace(domain="www.x.com") and d._replace(domain="www.x.com").domain
    assert d != tuple(d) and tuple(d) != d and d != "api.x.com"
    with pytest.raises(TypeError):
        _ = d < twin  # unordered, as the dataclass was
    assert pickle.loads(pickle.dumps(d)) == d
    assert d.refused and d.as_dict() == {
        "domain": "api.x.com", "action": "refuse", "kind": "platform", "category": "platform",
        "platform": "x", "rule": "x.com and its subdomains (it)", "rule_domain": "x.com",
        "reason": "X is a social platform; refused while Full Council is in session",
        "restricted": True, "meeting_id": 42, "device_id": 1, "member_id": 7, "bypass": None,
    }


def test_decision_keeps_its_constructor_and_defaults() -> None:
    d = Decision(Action.ALLOW, Kind.UNRESTRICTED, Category.UNLISTED, None, None, "why",
                 "a.example", False)
    assert (d.meeting_id, d.device_id, d.member_id, d.bypass) == (None, None, None, None)
    assert not d.refused and d.as_dict()["bypass"] is None
    assert Decision._fields == (
        "action", "kind", "category", "platform", "rule", "reason", "domain", "restricted",
        "meeting_id", "device_id", "member_id", "bypass",
    )


# --- Policy: the memo is no part of its value ----------------------------------------------


def test_a_dropped_policy_frees_its_memo_at_once() -> None:
    """No reference cycle through the memo: it goes with the policy, not at the next full
    collection (a snapshot's memo can be large, and the gate replaces snapshots)."""
    policy = make_policy([Rule("example.com", Category.AGENDA)])
    for r in restrictions():
        policy.decide_for("www.example.com", r)
        policy.decide_for("www.example.com", r)
    decide = weakref.ref(policy.__dict__["decide_for"])
    gc.disable()
    try:
        del policy
        assert decide() is None
    finally:
        gc.enable()


def test_policy_copies_get_a_fresh_memo() -> None:
    policy = make_policy([Rule("example.com", Category.AGENDA)])
    r = restrictions()[0]
    d = policy.decide_for("www.example.com", r)
    back = pickle.loads(pickle.dumps(policy))
    assert back == policy and back._memo is not policy._memo
    assert back.decide_for("www.example.com", r) == d
    observing = dataclasses.replace(policy, mode=Mode.MONITOR_ONLY)
    assert observing.decide_for("x.unknown", r).action is Action.OBSERVE
    assert policy.decide_for("x.unknown", r).action is Action.REFUSE
    assert Policy.decide_for(policy, "www.example.com", r) is d  # through the class too
