"""The matcher: longest suffix on label boundaries wins (DESIGN §4)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from allowlist.categories import BypassKind, Category, Origin
from allowlist.names import normalise_domain
from allowlist.rules import Rule, RuleSet

RULES = RuleSet.compile(
    [
        Rule.make("ample.com", "blocked"),
        Rule.make("example.com", "agenda"),
        Rule.make("static.example.com", "webcast"),
        Rule.make("login.static.example.com", "blocked", exact=True),
        Rule.make("www.google.com", "essential", exact=True),
        Rule.make("bücher.de", "agenda"),
        Rule.make("co.uk", "blocked"),
        Rule.make("council.gov.uk", "agenda"),
    ]
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # label boundaries: ample.com never matches example.com and vice versa
        ("ample.com", "ample.com"),
        ("www.ample.com", "ample.com"),
        ("example.com", "example.com"),
        ("xample.com", None),
        ("notexample.com", None),
        ("example.com.evil.net", None),
        # deepest rule wins
        ("www.example.com", "example.com"),
        ("static.example.com", "static.example.com"),
        ("img.static.example.com", "static.example.com"),
        # exact rules cover one name only
        ("login.static.example.com", "login.static.example.com"),
        ("a.login.static.example.com", "static.example.com"),
        ("www.google.com", "www.google.com"),
        ("maps.google.com", None),
        ("google.com", None),
        ("x.www.google.com", None),
        # case, trailing dot and IDNs are compared after normalisation
        ("WWW.Example.COM.", "example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("shop.BÜCHER.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("buecher.de", None),
        # a rule on a public suffix covers everything below it (IT beware)
        ("anything.co.uk", "co.uk"),
        ("democracy.council.gov.uk", "council.gov.uk"),
        ("othercouncil.gov.uk", None),
        ("com", None),
    ],
)
def test_match_table(query: str, expected: str | None) -> None:
    hit = RULES.match(normalise_domain(query))
    assert (hit.domain if hit else None) == expected


def test_it_beats_preset_and_catalogue_at_the_same_name() -> None:
    preset = Rule.make("example.com", "agenda", origin=Origin.PRESET, source="moderngov")
    catalogue = Rule.make(
        "example.com", "platform", platform="x", origin=Origin.CATALOGUE, source="x"
    )
    it = Rule.make("example.com", "blocked")
    bypass = Rule.make("example.com", "bypass", origin=Origin.BYPASS_LIST, bypass=BypassKind.DOH)
    for order in ([preset, it, catalogue, bypass], [catalogue, bypass, preset, it]):
        assert RuleSet.compile(order).match("example.com") is it
    assert RuleSet.compile([preset, catalogue, bypass]).match("a.example.com") is bypass
    assert RuleSet.compile([catalogue, preset]).match("a.example.com") is preset


def test_same_origin_first_seen_wins() -> None:
    first = Rule.make("example.com", "agenda", origin=Origin.PRESET, source="a")
    second = Rule.make("example.com", "webcast", origin=Origin.PRESET, source="b")
    assert RuleSet.compile([first, second]).match("example.com") is first


def test_exact_and_suffix_rules_at_one_name_coexist() -> None:
    exact = Rule.make("example.com", "agenda", exact=True)
    suffix = Rule.make("example.com", "blocked")
    rs = RuleSet.compile([suffix, exact])
    assert rs.match("example.com") is exact
    assert rs.match("www.example.com") is suffix
    assert len(rs) == 2 and set(rs.rules()) == {exact, suffix}


def test_deeper_rule_from_lower_origin_still_wins() -> None:
    it = Rule.make("example.com", "agenda")
    cat = Rule.make(
        "cdn.example.com", "platform", platform="p", origin=Origin.CATALOGUE, source="p"
    )
    assert RuleSet.compile([it, cat]).match("img.cdn.example.com") is cat


def test_empty_ruleset() -> None:
    assert RuleSet.compile([]).match("example.com") is None
    assert len(RuleSet()) == 0


def test_rule_make_validates_and_describes() -> None:
    rule = Rule.make("Static.Example.COM.", "webcast", origin=Origin.PRESET, source="public-i")
    assert rule.domain == "static.example.com" and rule.category is Category.WEBCAST
    assert rule.describe() == "static.example.com and its subdomains (preset:public-i)"
    assert Rule.make("a.example.com", "agenda", exact=True).describe() == "a.example.com (it)"
    with pytest.raises(ValueError):
        Rule.make("*.example.com", "agenda")
    with pytest.raises(ValueError):
        Rule.make("example.com", "not-a-category")


# --- properties -----------------------------------------------------------------------------

_LABEL = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=1, max_size=8)
_DOMAIN = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)


@given(domain=_DOMAIN, prefix=st.lists(_LABEL, min_size=1, max_size=3))
def test_a_rule_matches_its_subdomains(domain: str, prefix: list[str]) -> None:
    rule = Rule(domain, Category.AGENDA)
    rs = RuleSet.compile([rule])
    assert rs.match(domain) is rule
    assert rs.match(".".join([*prefix, domain])) is rule


@given(domain=_DOMAIN, prefix=st.lists(_LABEL, min_size=1, max_size=3))
def test_an_exact_rule_matches_only_its_name(domain: str, prefix: list[str]) -> None:
    rule = Rule(domain, Category.AGENDA, exact=True)
    rs = RuleSet.compile([rule])
    assert rs.match(domain) is rule
    assert rs.match(".".join([*prefix, domain])) is None


@given(domain=_DOMAIN, other=_LABEL)
def test_a_rule_never_matches_a_sibling(domain: str, other: str) -> None:
    first, _, rest = domain.partition(".")
    assume(other != first)
    sibling = f"{other}.{rest}" if rest else other
    assert RuleSet.compile([Rule(domain, Category.AGENDA)]).match(sibling) is None


@given(
    domain=_DOMAIN,
    glued=st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-."), min_size=1),
)
def test_a_rule_never_matches_a_name_merely_ending_with_it(domain: str, glued: str) -> None:
    assume(not glued.endswith("."))  # "x." + domain would be a real subdomain
    name = glued + domain  # e.g. "ex" + "ample.com" = "example.com"
    assert RuleSet.compile([Rule(domain, Category.AGENDA)]).match(name) is None
