"""Opened or background: realistic lookup patterns per platform against the opened rule.

Fixtures are built from host names the platforms' own apps and pages are documented to use
(the catalogue's suffixes; every name is checked to belong to its platform). An app being
opened fetches its API, images and static assets at once; a feed scroll keeps fetching new
image hosts; a background refresh touches one or two names; a push keep-alive repeats one.
The rule is the installation default (4 distinct names within 30 seconds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from allowlist.catalogue import load_catalogue
from allowlist.episodes import EpisodeLabel, LookupRow, OpenedRule, group_episodes

T0 = datetime(2026, 11, 26, 19, 30, tzinfo=UTC)
GAP = timedelta(minutes=2)
RULE = OpenedRule(4, timedelta(seconds=30))

# platform → pattern → [(seconds after start, host name)]
PATTERNS: dict[str, dict[str, list[tuple[float, str]]]] = {
    "instagram": {
        "app open": [(0, "i.instagram.com"), (0.3, "graph.instagram.com"),
                     (0.9, "scontent-lhr8-1.cdninstagram.com"),
                     (1.2, "static.cdninstagram.com"), (2.5, "scontent-lhr8-2.cdninstagram.com")],
        "feed scroll": [(i * 6.0, f"scontent-lhr{8 + i % 3}-{1 + i % 2}.cdninstagram.com")
                        for i in range(10)],
        "background refresh": [(0, "i.instagram.com"), (0.5, "graph.instagram.com")],
        "push keepalive": [(i * 50.0, "edge-chat.instagram.com") for i in range(6)],
    },
    "facebook": {
        "app open": [(0, "graph.facebook.com"), (0.2, "b-graph.facebook.com"),
                     (0.8, "scontent.xx.fbcdn.net"), (1.0, "static.xx.fbcdn.net"),
                     (1.6, "video.xx.fbcdn.net")],
        "feed scroll": [(i * 5.0, f"scontent-lhr{6 + i % 3}-{1 + i % 2}.xx.fbcdn.net")
                        for i in range(8)],
        "background refresh": [(0, "graph.facebook.com"), (1.0, "b-graph.facebook.com")],
        "push keepalive": [(i * 45.0, "edge-mqtt.facebook.com") for i in range(6)],
    },
    "x": {
        "app open": [(0, "api.x.com"), (0.4, "pbs.twimg.com"), (0.6, "abs.twimg.com"),
                     (1.5, "video.twimg.com")],
        "feed scroll": [(i * 4.0, h) for i, h in enumerate(
            ["pbs.twimg.com", "video.twimg.com", "api.x.com", "abs.twimg.com",
             "pbs.twimg.com", "video.twimg.com"])],
        "background refresh": [(0, "api.x.com")],
        "push keepalive": [(i * 60.0, "api.x.com") for i in range(5)],
    },
    "tiktok": {
        "app open": [(0, "api16-normal-useast5.tiktokv.com"), (0.2, "mon.tiktokv.com"),
                     (0.7, "p16-sign-va.tiktokcdn.com"), (1.1, "v16m.tiktokcdn-eu.com"),
                     (1.4, "log16-normal-useast5.tiktokv.com")],
        "feed scroll": [(i * 7.0, f"v{15 + i % 3}m.tiktokcdn-eu.com") for i in range(9)]
        + [(3.0, "api16-normal-useast5.tiktokv.com")],
        "background refresh": [(0, "api16-normal-useast5.tiktokv.com"),
                               (0.4, "log16-normal-useast5.tiktokv.com")],
        "push keepalive": [(i * 55.0, "mon.tiktokv.com") for i in range(5)],
    },
}
OPENED = {"app open", "feed scroll"}


def _platform_of(host: str) -> str | None:
    for p in load_catalogue():
        if any(host == s or host.endswith("." + s) for s in p.suffixes):
            return p.key
    return None


CASES = [(plat, name) for plat, pats in PATTERNS.items() for name in pats]


@pytest.mark.parametrize(("platform", "pattern"), CASES)
def test_pattern_is_labelled(platform: str, pattern: str) -> None:
    rows = PATTERNS[platform][pattern]
    for _, host in rows:
        assert _platform_of(host) == platform, host  # a real name of that platform
    lookups = [LookupRow(T0 + timedelta(seconds=t), platform, device_id=1, domain=h)
               for t, h in rows]
    eps = group_episodes(lookups, GAP, RULE)
    assert len(eps) == 1  # one episode each: the label, not the gap, tells them apart
    want = EpisodeLabel.OPENED if pattern in OPENED else EpisodeLabel.BACKGROUND
    assert eps[0].label is want, (platform, pattern, sorted(eps[0].domains))


def test_the_window_is_strict_and_hosts_must_be_distinct() -> None:
    hosts = ["a.instagram.com", "b.instagram.com", "c.instagram.com", "d.instagram.com"]

    def label(spacing: float, names: list[str]) -> EpisodeLabel:
        rows = [LookupRow(T0 + timedelta(seconds=i * spacing), "instagram", device_id=1,
                          domain=h) for i, h in enumerate(names)]
        (ep,) = group_episodes(rows, GAP, RULE)
        return ep.label

    assert label(9.99, hosts) is EpisodeLabel.OPENED  # 29.97 s from first to fourth
    assert label(10, hosts) is EpisodeLabel.BACKGROUND  # exactly 30 s: outside the window
    assert label(0.1, hosts[:3] * 5) is EpisodeLabel.BACKGROUND  # many lookups, 3 names


def test_facts_travel_with_the_episode() -> None:
    rows = [LookupRow(T0, "instagram", device_id=1, domain="i.instagram.com"),
            LookupRow(T0 + timedelta(seconds=5), "instagram", device_id=1,
                      domain="graph.instagram.com", channels="quic"),
            LookupRow(T0 + timedelta(seconds=8), "instagram", device_id=1,
                      domain="graph.instagram.com", action="observed", channels="tls")]
    (ep,) = group_episodes(rows, GAP, RULE)
    assert (ep.lookups, len(ep.domains), ep.seconds) == (3, 2, 8)
    assert ep.channels == {"dns", "quic", "tls"} and ep.connection and ep.reached


def test_rule_is_described_with_its_numbers() -> None:
    assert "at least 4 different host names" in RULE.describe()
    assert "within 30 seconds" in RULE.describe()
    with pytest.raises(ValueError):
        OpenedRule(0, timedelta(seconds=30))
