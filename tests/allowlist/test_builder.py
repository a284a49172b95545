"""Composition: IT > bypass list > presets > catalogue at one name; deepest name first."""

from __future__ import annotations

import pytest

from allowlist.builder import build_ruleset
from allowlist.catalogue import load_catalogue
from allowlist.categories import BypassKind, Category, Origin
from allowlist.presets import PresetError
from allowlist.rules import Rule, RuleSet

from .conftest import ALL_PRESETS, DEMOCRACY, WEBCAST


def build(**kw: object) -> RuleSet:
    args: dict[str, object] = dict(
        it_rules=[], enabled_presets=ALL_PRESETS, democracy_host=DEMOCRACY, webcast_host=WEBCAST
    )
    args.update(kw)
    return build_ruleset(**args)  # type: ignore[arg-type]


def test_everything_is_in() -> None:
    rs = build()
    origins = {r.origin for r in rs.rules()}
    assert origins == {Origin.BYPASS_LIST, Origin.PRESET, Origin.CATALOGUE}
    assert len(rs) > len(load_catalogue().rules())


def test_it_beats_preset_at_the_same_name() -> None:
    it = Rule.make("public-i.tv", "blocked", note="IT: no other councils' webcasts")
    rs = build(it_rules=[it])
    assert rs.match("other.public-i.tv") is it
    assert rs.match(WEBCAST).category is Category.WEBCAST  # type: ignore[union-attr]  # deeper


def test_it_can_allow_a_platform_host_deliberately() -> None:
    it = Rule.make("www.youtube.com", "webcast", exact=True, note="council webcasts on YouTube")
    rs = build(it_rules=[it])
    assert rs.match("www.youtube.com") is it
    assert rs.match("m.youtube.com").platform == "youtube"  # type: ignore[union-attr]


def test_bypass_list_beats_presets() -> None:
    rs = build(extra_preset_hosts={"public-i": ["dns.google"]})
    hit = rs.match("dns.google")
    assert hit is not None and hit.category is Category.BYPASS and hit.bypass is BypassKind.DOH


def test_presets_beat_the_catalogue_at_the_same_name() -> None:
    rs = build(extra_preset_hosts={"public-i": ["youtube.com"]})
    assert rs.match("www.youtube.com").category is Category.WEBCAST  # type: ignore[union-attr]
    assert rs.match("i.ytimg.com").category is Category.PLATFORM  # type: ignore[union-attr]


def test_extra_platforms_flow_through() -> None:
    rs = build(extra_platforms=[{"key": "local", "name": "Local forum", "suffixes": ["f.example"]}])
    hit = rs.match("www.f.example")
    assert hit is not None and hit.platform == "local" and hit.origin is Origin.CATALOGUE


def test_only_it_rules_as_it_rules() -> None:
    preset_rule = Rule.make("x.example", "agenda", origin=Origin.PRESET, source="moderngov")
    with pytest.raises(ValueError, match="origin preset"):
        build(it_rules=[preset_rule])


def test_missing_host_setting_is_reported() -> None:
    with pytest.raises(PresetError, match="democracy_host"):
        build(democracy_host=None)


def test_same_input_same_ruleset() -> None:
    assert build().rules() == build(enabled_presets=tuple(reversed(ALL_PRESETS))).rules()
