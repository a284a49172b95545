"""The bypass list: canaries, encrypted-DNS names and resolver addresses for nftables."""

from __future__ import annotations

import ipaddress
import re

import pytest

from allowlist.bypass import (
    BypassListError,
    bypass_rules,
    load_bypass,
    parse_bypass,
    resolver_addresses,
)
from allowlist.categories import BypassKind, Category, Origin
from allowlist.names import normalise_domain


def test_canaries() -> None:
    kinds = {r.domain: r.bypass for r in bypass_rules()}
    for name in ("use-application-dns.net", "mask.icloud.com", "mask-h2.icloud.com"):
        assert kinds[name] is BypassKind.CANARY


def test_endpoints() -> None:
    rules = {r.domain: r for r in bypass_rules()}
    for name in (
        "dns.google", "cloudflare-dns.com", "mozilla.cloudflare-dns.com", "dns.quad9.net",
        "doh.opendns.com", "dns.nextdns.io", "dns.adguard-dns.com", "doh.cleanbrowsing.org",
    ):
        assert rules[name].bypass is BypassKind.DOH, name
    assert rules["one.one.one.one"].bypass is BypassKind.DOT
    for rule in rules.values():
        assert rule.category is Category.BYPASS and rule.origin is Origin.BYPASS_LIST
        assert rule.source and normalise_domain(rule.domain) == rule.domain
    assert "icloud.com" not in rules  # only the canaries, not all of iCloud


def test_resolver_addresses() -> None:
    everything = {str(a) for a in resolver_addresses()}
    for a in (
        "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112",
        "208.67.222.222", "2001:4860:4860::8888", "2606:4700:4700::1111", "2620:fe::fe",
    ):
        assert a in everything, a
    v4, v6 = resolver_addresses(4), resolver_addresses(6)
    assert v4 and v6 and len(v4) + len(v6) == len(everything)
    assert all(isinstance(a, ipaddress.IPv4Address) for a in v4)
    assert all(isinstance(a, ipaddress.IPv6Address) for a in v6)
    bl = load_bypass()
    assert bl.tcp_ports == (443, 853) and bl.udp_ports == (443, 853)
    assert all(r.provider and r.source and r.address.is_global for r in bl.resolvers)


GOOD = """
schema = 1
[[canary]]
domain = "use-application-dns.net"
provider = "Firefox"
source = "Mozilla"
[[endpoint]]
domain = "dns.google"
kind = "doh"
provider = "Google"
source = "curl wiki"
[resolver_ports]
tcp = [443, 853]
udp = [443]
[[resolver]]
provider = "Google"
addresses = ["8.8.8.8", "2001:4860:4860::8888"]
source = "Google"
"""


def test_good_file_parses() -> None:
    bl = parse_bypass(GOOD)
    assert [r.bypass for r in bl.rules] == [BypassKind.CANARY, BypassKind.DOH]
    assert [str(a) for a in bl.addresses()] == ["8.8.8.8", "2001:4860:4860::8888"]
    assert bl.udp_ports == (443,)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('kind = "doh"', 'kind = "vpn"', "endpoint 'dns.google': 'kind' must be"),
        ('domain = "dns.google"', 'domain = "https://dns.google/dns-query"', "looks like a URL"),
        ('domain = "dns.google"', 'domain = "use-application-dns.net"', "listed twice"),
        ('provider = "Firefox"', 'provider = "Firefox"\nkind = "doh"', "canaries have no 'kind'"),
        ('source = "curl wiki"', "", "endpoint 'dns.google': 'source'"),
        ('"8.8.8.8",', '"8.8.8.256",', "'8.8.8.256' is not an IP address"),
        ('"8.8.8.8",', '"192.168.1.1",', "'192.168.1.1' is not a public address"),
        ('"8.8.8.8",', '"2001:4860:4860::8888",', "listed twice"),
        ("udp = [443]", "udp = [70000]", "udp must list port numbers"),
        ("udp = [443]", "udp = [true]", "udp must list port numbers"),
        ("schema = 1", "", "schema = 1"),
    ],
)
def test_broken_file(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(BypassListError, match=re.escape(message)):
        parse_bypass(GOOD.replace(old, new, 1))
