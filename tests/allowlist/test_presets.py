"""Presets IT switches on: readable, narrow, and loud about missing host settings."""

from __future__ import annotations

import re

import pytest

from allowlist.categories import Category, Origin
from allowlist.presets import (
    HOST_SETTINGS,
    PresetError,
    load_presets,
    parse_presets,
    preset_rules,
)
from allowlist.rules import RuleSet

HOSTS = {"democracy_host": "Democracy.Example.gov.uk.", "webcast_host": "example.public-i.tv"}


def test_shipped_presets() -> None:
    presets = load_presets()
    assert list(presets) == ["moderngov", "public-i", "os-connectivity", "certificates"]
    expected = {
        "moderngov": Category.AGENDA,
        "public-i": Category.WEBCAST,
        "os-connectivity": Category.ESSENTIAL,
        "certificates": Category.ESSENTIAL,
    }
    for key, p in presets.items():
        assert p.category is expected[key]
        assert p.title and p.description and p.sources and p.rules
        assert set(p.requires) <= set(HOST_SETTINGS)
    assert presets["moderngov"].requires == ("democracy_host",)
    assert presets["public-i"].requires == ("webcast_host",)
    assert "leave it (switching to mobile data)" in presets["os-connectivity"].description
    assert "www.google.com" in presets["os-connectivity"].description  # trade-off documented


def test_os_connectivity_allows_only_www_google_com_exactly() -> None:
    rules = {r.domain: r for r in preset_rules(["os-connectivity"])}
    assert rules["www.google.com"].exact and rules["clients3.google.com"].exact
    for name in (
        "captive.apple.com", "connectivitycheck.gstatic.com", "connectivitycheck.android.com",
        "www.msftconnecttest.com", "www.msftncsi.com", "dns.msftncsi.com",
        "detectportal.firefox.com", "time.apple.com", "time.android.com", "time.windows.com",
        "pool.ntp.org",
    ):
        assert name in rules, name
    rs = RuleSet.compile(rules.values())
    assert rs.match("www.google.com") is rules["www.google.com"]
    assert rs.match("mail.google.com") is None and rs.match("google.com") is None
    assert rs.match("uk.pool.ntp.org") is rules["pool.ntp.org"]


def test_certificates_cover_the_common_responders() -> None:
    rs = RuleSet.compile(preset_rules(["certificates"]))
    for name in (
        "ocsp.digicert.com", "crl3.digicert.com", "crl4.digicert.com", "ocsp.sectigo.com",
        "crl.sectigo.com", "ocsp.pki.goog", "crl.pki.goog", "r10.o.lencr.org",
        "r11.o.lencr.org", "x1.c.lencr.org", "ocsp.apple.com", "ocsp2.apple.com",
        "valid.apple.com", "crl.apple.com", "ocsp.globalsign.com", "crl.globalsign.com",
        "ctldl.windowsupdate.com", "oneocsp.microsoft.com",
    ):
        hit = rs.match(name)
        assert hit is not None and hit.category is Category.ESSENTIAL, name
    assert rs.match("www.digicert.com") is None and rs.match("www.apple.com") is None


def test_placeholders_are_filled_and_normalised() -> None:
    rules = preset_rules(["moderngov", "public-i"], **HOSTS)
    assert [(r.domain, r.category, r.source) for r in rules] == [
        ("democracy.example.gov.uk", Category.AGENDA, "moderngov"),
        ("moderngov.co.uk", Category.AGENDA, "moderngov"),
        ("example.public-i.tv", Category.WEBCAST, "public-i"),
        ("public-i.tv", Category.WEBCAST, "public-i"),
    ]
    assert all(r.origin is Origin.PRESET and not r.exact for r in rules)


def test_order_follows_the_data_file_not_the_request() -> None:
    a = preset_rules(["certificates", "moderngov"], **HOSTS)
    b = preset_rules({"moderngov", "certificates"}, **HOSTS)
    assert a == b and a[0].source == "moderngov"
    assert preset_rules([]) == []


@pytest.mark.parametrize(
    ("enabled", "hosts", "message"),
    [
        (["moderngov"], {}, "preset 'moderngov' (Agenda papers (modern.gov)) needs democracy_host"),
        (["public-i"], {"democracy_host": "x.gov.uk"}, "needs webcast_host"),
        (["public-i"], {"webcast_host": "  "}, "needs webcast_host"),
        (["moderngov"], {"democracy_host": "https://d.example.gov.uk/"}, "looks like a URL"),
        (["moderngov"], {"democracy_host": "*.example.gov.uk"}, "wildcards"),
        (["nope", "moderngov"], HOSTS, "unknown preset(s) ['nope']; known presets: moderngov"),
    ],
)
def test_clear_errors(enabled: list[str], hosts: dict[str, str], message: str) -> None:
    with pytest.raises(PresetError, match=re.escape(message)):
        preset_rules(enabled, **hosts)


def test_missing_host_message_says_what_to_set() -> None:
    with pytest.raises(PresetError) as info:
        preset_rules(["moderngov"])
    assert "democracy.example.gov.uk" in str(info.value)  # the example the hint gives


def test_hosts_not_needed_are_not_checked() -> None:
    assert preset_rules(["os-connectivity"], democracy_host="not a host")


def test_extra_hosts() -> None:
    rules = preset_rules(
        ["public-i"], webcast_host="example.public-i.tv",
        extra_hosts={"public-i": ["Video.Example-CDN.net"]},
    )
    assert rules[-1].domain == "video.example-cdn.net"
    assert rules[-1].category is Category.WEBCAST and rules[-1].note == "added by IT"
    with pytest.raises(PresetError, match="not switched on"):
        preset_rules(["moderngov"], **HOSTS, extra_hosts={"public-i": ["x.example"]})
    with pytest.raises(PresetError, match="extra host 'http://x/'"):
        preset_rules(["public-i"], **HOSTS, extra_hosts={"public-i": ["http://x/"]})


# --- broken data files ------------------------------------------------------------------------

GOOD = """
schema = 1
[[preset]]
key = "agenda"
title = "Agenda"
description = "Lets members read the papers."
category = "agenda"
requires = ["democracy_host"]
sources = ["somewhere"]
  [[preset.rule]]
  domain = "{democracy_host}"
  [[preset.rule]]
  domain = "moderngov.co.uk"
  note = "hosted sites"
"""


def test_good_file_parses() -> None:
    presets = parse_presets(GOOD)
    rules = preset_rules(["agenda"], democracy_host="d.example.gov.uk", presets=presets)
    assert [r.domain for r in rules] == ["d.example.gov.uk", "moderngov.co.uk"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('category = "agenda"', 'category = "platform"', "'category' must be one of agenda"),
        ('category = "agenda"', "category = 3", "'category' must be one of"),
        ('domain = "moderngov.co.uk"', 'domain = "modern gov.co.uk"', "domain 'modern gov.co.uk'"),
        ('domain = "{democracy_host}"', 'domain = "{webcast_host}"', "is not in 'requires'"),
        ('domain = "{democracy_host}"', 'domain = "{room_host}"', "unknown placeholder"),
        ('requires = ["democracy_host"]', 'requires = ["democracy_host", "webcast_host"]',
         "['webcast_host'] but no rule uses it"),
        ('requires = ["democracy_host"]', 'requires = ["nas_host"]', "unknown host setting"),
        ('title = "Agenda"', 'title = ""', "'title' must be non-empty"),
        ('key = "agenda"', 'key = "Agenda Papers"', "key must be lower-case"),
        ('note = "hosted sites"', 'note = "x"\n  exact = "yes"', "'exact' must be true/false"),
        ('note = "hosted sites"', 'note = "x"\n  wildcard = true', "unknown field(s) ['wildcard']"),
        ("schema = 1", "schema = 0", "schema = 1"),
    ],
)
def test_broken_file(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(PresetError, match=re.escape(message)):
        parse_presets(GOOD.replace(old, new, 1))
