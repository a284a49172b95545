"""Issue 21 item 4: ``chamberguard check`` asks the running gate, which checks from the
chamber network through the policy a restricted member device gets — green with the agenda
reachable; red, saying why, when the agenda's preset is off, the agenda site is down, or the
sensor has stopped capturing."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.netns.harness import AGENDA, AGENDA_IP, AGENDA_IP6, CLI, WEBCAST, Chamber

LINE = re.compile(r"^(OK     |CHECK  |PROBLEM)  ([^:]+): (.*)$")


def _check(c: Chamber) -> tuple[int, dict[str, tuple[str, str]], float]:
    """Run ``chamberguard check`` as the clerk would: exit code, {title: (mark, text)}, and
    how long it took."""
    began = time.monotonic()
    proc = subprocess.run([CLI, "check"], capture_output=True, text=True, env=c.env(),
                          timeout=30, check=False)
    took = time.monotonic() - began
    lines = {}
    for ln in proc.stdout.splitlines():
        m = LINE.match(ln)
        if m:
            lines[m.group(2)] = (m.group(1).strip(), m.group(3))
    assert lines, f"no check lines: {proc.stdout!r} {proc.stderr!r}"
    return proc.returncode, lines, took


def _sensor_state(c: Chamber) -> str | None:
    db = sqlite3.connect(c.tmp / "data" / "chamberguard.db")
    try:
        rows = db.execute("SELECT components FROM gate_heartbeats WHERE room = 'chamber'")
        row = rows.fetchone()
    finally:
        db.close()
    if not row or not row[0]:
        return None
    return str(json.loads(row[0]).get("sensor", {}).get("state"))


@pytest.fixture
def checked(chamber: Chamber) -> Iterator[Chamber]:
    """The chamber, its gate fetching over plain HTTP (the fake sites have no TLS)."""
    assert chamber.config is not None
    text = chamber.config.read_text()
    chamber.config.write_text(text.replace("[policy]\n", '[policy]\ncheck_fetch = "http"\n'))
    chamber.start_gate()
    # The member's iPad asks the gate something: it is on the chamber Wi-Fi.
    assert chamber.resolve(chamber.member, AGENDA)["rcode"] == "NOERROR"
    chamber.wait_until(lambda: _device_seen(chamber), what="the member's device seen")
    yield chamber


def _device_seen(c: Chamber) -> bool:
    db = sqlite3.connect(c.tmp / "data" / "chamberguard.db")
    try:
        return db.execute("SELECT last_seen FROM devices").fetchone()[0] is not None
    finally:
        db.close()


def test_green_when_the_chamber_is_ready(checked: Chamber) -> None:
    rc, lines, took = _check(checked)
    assert took < 10
    for title in ("Gate", "Firewall", "Sensor", "Mode", "Allowlist presets", "Agenda",
                  "Webcast", "Members' devices"):
        assert lines[title][0] == "OK", (title, lines[title])
    assert AGENDA_IP in lines["Agenda"][1] and AGENDA_IP6 in lines["Agenda"][1]
    assert "HTTP 200" in lines["Agenda"][1] and WEBCAST in lines["Webcast"][1]
    assert "All 1 members" in lines["Members' devices"][1]
    assert rc == 0


def test_red_when_the_agenda_preset_is_off(checked: Chamber) -> None:
    from api.presets.service import set_preset
    from monitor.settings import load_settings
    from monitor.store.db import Database

    c = checked
    settings = load_settings(c.config)
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            set_preset(s, key="moderngov", enabled=False, settings=settings, actor="it")
    finally:
        db.dispose()
    # The gate has the new policy once the member's own lookup is refused.
    c.wait_until(lambda: c.resolve(c.member, AGENDA)["rcode"] == "NXDOMAIN",
                 what="the gate refusing the agenda", timeout=10)
    rc, lines, took = _check(c)
    assert took < 10 and rc == 1
    assert lines["Agenda"][0] == "PROBLEM"
    assert f"would be refused {AGENDA}" in lines["Agenda"][1]
    assert lines["Allowlist presets"][0] == "PROBLEM" and "moderngov" in \
        lines["Allowlist presets"][1]
    assert lines["Webcast"][0] == "OK"


def test_red_when_the_agenda_site_is_down(checked: Chamber) -> None:
    c = checked
    for ip, plen in ((AGENDA_IP, 32), (AGENDA_IP6, 128)):
        c.net.run(c.net.inet, "ip", "addr", "del", f"{ip}/{plen}", "dev", "lo", check=True)
    rc, lines, took = _check(c)
    assert took < 10 and rc == 1
    assert lines["Agenda"][0] == "PROBLEM"
    assert "is allowed and resolves to" in lines["Agenda"][1]
    assert "but the site does not answer" in lines["Agenda"][1]
    assert lines["Webcast"][0] == "OK"


def test_red_when_the_sensor_is_down(checked: Chamber) -> None:
    c = checked
    c.wait_until(lambda: _sensor_state(c) == "up", what="the sensor reported up", timeout=20)
    pid = _sensor_pid(c)
    os.kill(pid, signal.SIGSTOP)  # hung: alive, not capturing
    try:
        c.wait_until(lambda: _sensor_state(c) == "down", what="the sensor reported down",
                     timeout=20)
        rc, lines, took = _check(c)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert took < 10 and rc == 1
    assert lines["Sensor"][0] == "PROBLEM"
    assert "not capturing" in lines["Sensor"][1]
    assert lines["Agenda"][0] == "OK"


def _sensor_pid(c: Chamber) -> int:
    db = sqlite3.connect(c.tmp / "data" / "chamberguard.db")
    try:
        row = db.execute("SELECT components FROM gate_heartbeats").fetchone()
    finally:
        db.close()
    m = re.search(r"pid (\d+)", json.loads(row[0])["sensor"]["why"])
    assert m, row
    return int(m.group(1))
