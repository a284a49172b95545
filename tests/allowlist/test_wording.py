"""Golden sentences: the one vocabulary (allowlist.wording) for feed, report, CSV and API.

Each case is a kind of event the gate or the sensor records, and the exact sentence a
standards hearing would read. A refused lookup never "contacted" anything; "connected to"
appears only where traffic reached the platform; a cached-address connection is a platform
attempt; a bypass is "another DNS service (often a browser or phone default)"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from allowlist.episodes import LookupRow, OpenedRule, group_episodes
from allowlist.wording import EpisodeFacts, episode_sentence, event_sentence

ADA = "Cllr Ada Lovelace"
T0 = datetime(2026, 11, 26, 19, 30, tzinfo=UTC)

EVENTS = [
    # (kind, action, platform name, domain, channels, detail) → sentence
    (("attempt", "refused", "Instagram", "i.instagram.com", "dns", None),
     "Cllr Ada Lovelace's device (iPad) looked up i.instagram.com (Instagram) — refused"),
    (("attempt", "observed", "Instagram", "i.instagram.com", "dns", None),
     "Cllr Ada Lovelace's device (iPad) connected to Instagram (i.instagram.com) — not "
     "blocked (monitor-only)"),
    (("attempt", "observed", "Instagram", "i.instagram.com", "tls", None),
     "Cllr Ada Lovelace's device (iPad) connected to Instagram (i.instagram.com) — not "
     "blocked (seen by the sensor)"),
    (("attempt", "refused", "Instagram", "scontent-lhr8-1.cdninstagram.com", "quic",
      "connection to a cached address (udp/443)"),
     "Cllr Ada Lovelace's device (iPad) tried to connect to scontent-lhr8-1.cdninstagram.com "
     "(Instagram) at an address it had cached — refused"),
    (("attempt", "refused", None, "blocked.example", "dns", None),
     "Cllr Ada Lovelace's device (iPad) looked up blocked.example — refused"),
    (("bypass", "refused", None, "dns.google", "dns", "doh"),
     "Cllr Ada Lovelace's device (iPad) used another DNS service (often a browser or phone "
     "default): DNS over HTTPS (dns.google) — refused"),
    (("bypass", "refused", None, None, "ip", "doh: DNS over HTTPS resolver by address refused "
      "(203.0.113.9)"),
     "Cllr Ada Lovelace's device (iPad) used another DNS service (often a browser or phone "
     "default): DNS over HTTPS — refused"),
    (("bypass", "refused", None, None, "ip", "dot: DNS over TLS/QUIC (port 853) refused "
      "(203.0.113.9)"),
     "Cllr Ada Lovelace's device (iPad) used another DNS service (often a browser or phone "
     "default): DNS over TLS — refused"),
    (("bypass", "refused", None, "use-application-dns.net", "dns", "canary"),
     "Cllr Ada Lovelace's device (iPad) used another DNS service (often a browser or phone "
     "default): checked a name that decides whether it may be used "
     "(use-application-dns.net) — refused"),
    (("bypass", "observed", None, "www.example.org", "dns", "DNS sent to another resolver"),
     "Cllr Ada Lovelace's device (iPad) used another DNS service (often a browser or phone "
     "default): DNS sent to another resolver (www.example.org) — answered by the chamber's "
     "DNS instead"),
]


@pytest.mark.parametrize(("args", "want"), EVENTS)
def test_event_sentences(args: tuple[str, str, str | None, str | None, str, str | None],
                         want: str) -> None:
    kind, action, target, domain, channels, detail = args
    got = event_sentence(kind, action, target=target, domain=domain, channels=channels,
                         detail=detail, member=ADA, device="iPad")
    assert got == want
    assert "contacted" not in got and "way round" not in got
    if action == "refused":
        assert "connected to" not in got


def test_unattributed_device_and_other_kinds() -> None:
    assert event_sentence("attempt", "refused", target="TikTok", domain="www.tiktok.com",
                          channels="dns", detail=None, member=None, device=None) == \
        "A device looked up www.tiktok.com (TikTok) — refused"
    assert event_sentence("device-seen", "observed", target=None, domain=None, channels="dns",
                          detail=None, member=None, device=None) == \
        "An unregistered device joined the chamber Wi-Fi (IT can claim it)"
    assert event_sentence("outage", "observed", target=None, domain=None, channels="dns",
                          detail="gate was down from a to b", member=None, device=None) == \
        "gate was down from a to b"


def _episode(rows: list[tuple[float, str, str, str]]) -> EpisodeFacts:
    lk = [LookupRow(T0 + timedelta(seconds=t), "instagram", device_id=1, domain=d,
                    channels=ch, action=act) for t, d, ch, act in rows]
    (ep,) = group_episodes(lk, timedelta(minutes=2), OpenedRule(4, timedelta(seconds=30)))
    return EpisodeFacts.of(ep, "Instagram")


def test_episode_sentences() -> None:
    opened = _episode([(0, "i.instagram.com", "dns", "refused"),
                       (0.4, "graph.instagram.com", "dns", "refused"),
                       (1.1, "scontent-lhr8-1.cdninstagram.com", "dns", "refused"),
                       (1.3, "static.cdninstagram.com", "dns", "refused"),
                       (9, "i.instagram.com", "dns", "refused")])
    assert episode_sentence(opened, ADA, "iPad") == (
        "Cllr Ada Lovelace's device (iPad) looked up Instagram — refused: 5 lookups of "
        "4 names over 9 seconds; app or site likely opened")
    background = _episode([(0, "i.instagram.com", "dns", "refused")])
    assert episode_sentence(background, None, None) == (
        "A device looked up Instagram — refused: 1 lookup of 1 name at once; background "
        "activity likely")
    cached = _episode([(0, "graph.instagram.com", "dns", "refused"),
                       (70, "graph.instagram.com", "quic", "refused")])
    assert episode_sentence(cached, ADA, "iPad") == (
        "Cllr Ada Lovelace's device (iPad) looked up and tried to connect to Instagram — "
        "refused: 2 lookups of 1 name over 1 minute 10 s; background activity likely")
    reached = _episode([(0, "graph.instagram.com", "dns", "observed")])
    assert episode_sentence(reached, ADA, "iPad").startswith(
        "Cllr Ada Lovelace's device (iPad) connected to Instagram: 1 lookup")
