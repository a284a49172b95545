"""The pre-meeting check's judgements: facts in, one plain-English line out (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.check.model import Item, Status
from monitor.check.verdicts import (
    Attendance,
    Fetch,
    Firewall,
    Reach,
    devices_line,
    firewall_line,
    gate_line,
    presets_line,
    reach_line,
    ready,
    sensor_line,
)
from monitor.health import Component, ComponentHealth, State

T = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
HOST = "democracy.example.gov.uk"


def _reach(**kw: object) -> Reach:
    return Reach(Item.AGENDA, HOST, **kw)  # type: ignore[arg-type]


def test_an_allowed_host_that_answers_is_green() -> None:
    ln = reach_line(_reach(addresses=("203.0.113.10",),
                           fetches=(Fetch("203.0.113.10", 200),)), 8)
    assert ln.status is Status.OK and "203.0.113.10" in ln.text and "HTTP 200" in ln.text


def test_a_refused_host_is_red_with_the_policys_reason() -> None:
    ln = reach_line(_reach(refused=True, reason="not on the allowlist"), 8)
    assert ln.status is Status.FAIL
    assert "would be refused" in ln.text and "not on the allowlist" in ln.text


def test_an_allowed_host_whose_site_is_down_is_red_with_the_error() -> None:
    ln = reach_line(_reach(addresses=("203.0.113.10",),
                           fetches=(Fetch("203.0.113.10", error="Connection refused"),)), 8)
    assert ln.status is Status.FAIL
    assert "does not answer" in ln.text and "Connection refused" in ln.text


def test_resolution_failures_say_which() -> None:
    assert "did not answer" in reach_line(_reach(rcode="SERVFAIL"), 8).text
    assert "NXDOMAIN" in reach_line(_reach(rcode="NXDOMAIN"), 8).text
    assert "no address" in reach_line(_reach(), 8).text
    late = reach_line(_reach(answered=False), 8)
    assert late.status is Status.FAIL and "8 seconds" in late.text


def test_one_address_down_of_two_is_amber() -> None:
    ln = reach_line(_reach(addresses=("203.0.113.10", "2001:db8:e::10"),
                           fetches=(Fetch("203.0.113.10", 200),
                                    Fetch("2001:db8:e::10", error="Network is unreachable"))), 8)
    assert ln.status is Status.WARN and "2001:db8:e::10" in ln.text


def test_a_server_error_is_red() -> None:
    ln = reach_line(_reach(addresses=("203.0.113.10",),
                           fetches=(Fetch("203.0.113.10", 503),)), 8)
    assert ln.status is Status.FAIL and "503" in ln.text


def test_no_host_configured_is_amber() -> None:
    assert reach_line(Reach(Item.WEBCAST, ""), 8).status is Status.WARN


def test_firewall() -> None:
    assert firewall_line(Firewall(True, table_present=True), False).status is Status.OK
    missing = firewall_line(Firewall(True, error="No such file or directory"), False)
    assert missing.status is Status.FAIL and "missing" in missing.text
    assert firewall_line(Firewall(True, table_present=True), True).status is Status.WARN
    assert firewall_line(Firewall(False, why_not="mirror topology"), False).status is Status.WARN


def test_sensor() -> None:
    up = ComponentHealth(Component.SENSOR, State.UP, T, "capturing (pid 9)")
    down = ComponentHealth(Component.SENSOR, State.DOWN, T, "not capturing (hung)")
    off = ComponentHealth(Component.SENSOR, State.OFF, T, "[capture] enabled = false")
    assert sensor_line(up).status is Status.OK
    ln = sensor_line(down)
    assert ln.status is Status.FAIL and "not capturing (hung)" in ln.text
    assert sensor_line(off).status is Status.WARN
    assert sensor_line(None).status is Status.FAIL


def test_gate_degraded_is_red() -> None:
    bad = ComponentHealth(Component.GATE, State.DEGRADED, T, "tick failed: OperationalError")
    assert gate_line(bad).status is Status.FAIL and "tick failed" in gate_line(bad).text
    assert gate_line(None).status is Status.OK


def test_presets() -> None:
    assert presets_line(["moderngov", "public-i", "os-connectivity"]).status is Status.OK
    off = presets_line(["public-i", "os-connectivity"])
    assert off.status is Status.FAIL and "moderngov" in off.text


def test_devices_name_who_is_missing() -> None:
    everyone = Attendance("Full Council", False, ("Ada", "Grace"), ("Ada", "Grace"), 10)
    assert devices_line(everyone).status is Status.OK
    some = devices_line(Attendance("Full Council", False, ("Ada", "Grace"), ("Ada",), 10))
    assert some.status is Status.WARN and "1 of 2" in some.text and "Grace" in some.text
    many = tuple(f"M{i}" for i in range(9))
    assert "and 4 more" in devices_line(Attendance(None, False, many, (), 10)).text
    assert devices_line(Attendance(None, False, (), (), 10)).status is Status.FAIL


def test_ready_means_no_red_line() -> None:
    ok = presets_line(["moderngov", "public-i", "os-connectivity"])
    amber = reach_line(Reach(Item.WEBCAST, ""), 8)
    red = reach_line(_reach(refused=True, reason="x"), 8)
    assert ready([ok, amber]) and not ready([ok, red])
