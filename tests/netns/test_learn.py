"""Issue #4 learn mode: a device's lookups become proposed rules, grouped sensibly."""

from __future__ import annotations

import json

from tests.netns.harness import AGENDA, AGENDA_CDN_ALIAS, WEBCAST, Chamber


def test_learn_mode_proposes_rules(chamber: Chamber) -> None:
    c = chamber
    c.cli("meetings", "end", str(c.ids["meeting"]))
    c.start_gate()
    c.cli("learn", "start", c.guest.mac, "--minutes", "5")

    def proposals() -> list[dict[str, object]]:
        return json.loads(c.cli("learn", "proposals", "--json"))  # type: ignore[no-any-return]

    # The gate learns of the session on its next tick (policy changes travel by database).
    Chamber.wait_until(
        lambda: c.resolve(c.guest, AGENDA) and len(proposals()) == 1,
        what="the gate learning",
        timeout=10,
    )
    for name in (
        AGENDA_CDN_ALIAS,
        WEBCAST,
        "player.cdn.example.net",
        "fonts.example-fonts.org",
        "d999.cloudfront.net",
    ):
        c.resolve(c.guest, name)
    Chamber.wait_until(lambda: len(proposals()) >= 5, what="learned names", timeout=10)
    by_domain = {p["registrable"]: p for p in proposals()}
    # Covered by the moderngov/public-i presets already: nothing to propose.
    assert by_domain["example.gov.uk"]["proposed_rules"] == []
    assert by_domain["public-i.tv"]["proposed_rules"] == []
    # Unknown hosts: one suffix rule per registrable domain...
    assert by_domain["example-fonts.org"]["proposed_rules"] == [
        {"domain": "example-fonts.org", "exact": False}
    ]
    # ...but never a whole shared CDN: exact names only.
    assert by_domain["cloudfront.net"]["proposed_rules"] == [
        {"domain": "d999.cloudfront.net", "exact": True}
    ]
    # The member (not in learn mode) is not recorded.
    before = sum(int(p["lookups"]) for p in proposals())  # type: ignore[call-overload]
    c.resolve(c.member, "other.example-fonts.org")
    c.cli("learn", "stop", c.guest.mac)
    assert sum(int(p["lookups"]) for p in proposals()) == before  # type: ignore[call-overload]
