"""The gate's native UDP fast path in the real daemon: repeats are answered in C with the
same enforcement, policy changes reach it within a tick, and it can be switched off."""

from __future__ import annotations

import os
import re

import pytest

from tests.netns.harness import AGENDA, AGENDA_IP, FACEBOOK, FACEBOOK_IP, Chamber
from tests.netns.test_enforcement import events


def fast_counters(c: Chamber) -> dict[str, int]:
    assert c.gate is not None
    c.net.stop(c.gate)
    m = re.findall(r"gate fast path counters: (\{.*\})", c.log("gate.log"))
    assert m, c.log("gate.log")[-2000:]
    return {k: int(v) for k, v in re.findall(r"'(\w+)': (\d+)", m[-1])}


def test_repeats_run_in_c_with_the_same_enforcement(chamber: Chamber) -> None:
    pytest.importorskip("monitor.gate._fastgate", reason="extension not built")
    if os.environ.get("CHAMBERGUARD_DNS__FAST_PATH", "").lower() in ("false", "0", "no", "off"):
        pytest.skip("fast path switched off for this run (CHAMBERGUARD_DNS__FAST_PATH)")
    c = chamber
    c.start_gate()
    assert "gate fast path: native UDP" in c.log("gate.log")
    m, g = c.member, c.guest
    for _ in range(5):
        assert c.resolve(m, AGENDA)["addresses"] == [AGENDA_IP]
        assert c.resolve(m, FACEBOOK)["rcode"] == "NXDOMAIN"
        assert c.resolve(g, FACEBOOK)["addresses"] == [FACEBOOK_IP]
    assert c.fetch(m, AGENDA_IP, AGENDA)["ok"]
    assert c.fetch(m, FACEBOOK_IP, FACEBOOK)["error"] == "ConnectionRefusedError"
    Chamber.wait_until(
        lambda: len(events(c, f"kind='attempt' AND mac='{m.mac}' AND channels='dns'")) == 5,
        what="one attempt event per refused lookup",
    )
    # The meeting ends: the refusal C had cached is forgotten within a tick.
    c.cli("meetings", "end", str(c.ids["meeting"]))
    Chamber.wait_until(
        lambda: c.resolve(m, FACEBOOK).get("addresses") == [FACEBOOK_IP],
        what="unrestricted after the meeting ends",
    )
    # Each tick sends a client's next query through Python once (clients are re-taught) and
    # the guest's platform lookups always go there (their addresses are learned), so not
    # all of the member's repeats are C's; most are.
    n = fast_counters(c)
    assert n["fast"] >= 4 and n["events"] >= 1 and n["slow_dropped"] == 0, n


def test_switched_off_python_answers_everything(
    chamber: Chamber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAMBERGUARD_DNS__FAST_PATH", "false")
    c = chamber
    c.start_gate()
    assert "gate fast path: off (switched off" in c.log("gate.log")
    for _ in range(3):
        assert c.resolve(c.member, FACEBOOK)["rcode"] == "NXDOMAIN"
        assert c.resolve(c.member, AGENDA)["addresses"] == [AGENDA_IP]
    assert c.fetch(c.member, AGENDA_IP, AGENDA)["ok"]
    assert "gate fast path counters" not in c.log("gate.log")
