"""Issue #5 wiring: the passive sensor sees what never asked the gate, once per attempt."""

from __future__ import annotations

import time

from tests.netns.harness import AGENDA, AGENDA_IP, FACEBOOK, FACEBOOK_IP, Chamber
from tests.netns.test_enforcement import events, wait_event


def test_sni_to_an_allowed_address_is_seen(chamber: Chamber) -> None:
    c = chamber
    c.start_gate()
    # A CDN address that serves the agenda can also carry another name (domain fronting):
    # nftables lets it through, the sensor names it.
    assert c.resolve(c.member, AGENDA)["rcode"] == "NOERROR"
    assert c.probe(c.member, "tls", AGENDA_IP, "--sni", "www.instagram.com")["ok"]
    ev = wait_event(c, "platform='instagram'", "sensor attempt")
    assert ev[0]["channels"] == "tls" and ev[0]["action"] == "observed"
    assert ev[0]["member_id"] == c.ids["member"]
    # The guest doing the same is never recorded.
    assert c.probe(c.guest, "tls", AGENDA_IP, "--sni", "www.tiktok.com")["ok"]
    time.sleep(2)
    assert events(c, "platform='tiktok'") == []


def test_dns_then_sni_is_one_attempt(monitor_only_chamber: Chamber) -> None:
    c = monitor_only_chamber
    c.start_gate()
    assert c.resolve(c.member, FACEBOOK)["addresses"] == [FACEBOOK_IP]
    assert c.probe(c.member, "tls", FACEBOOK_IP, "--port", "443", "--sni", FACEBOOK)["ok"]
    wait_event(c, "platform='facebook'", "the gate's DNS event")
    time.sleep(2.5)  # give the sensor every chance to (wrongly) add a second one
    ev = events(c, "platform='facebook'")
    assert len(ev) == 1 and ev[0]["channels"] == "dns", ev
