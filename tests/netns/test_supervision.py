"""Issue #18: a sensor killed with SIGKILL is shown down on the clerk's page within 10 s,
recorded as an outage, and is back (restarted by the gate worker) within 30 s."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
from typing import Any

import httpx

from tests.netns.harness import Chamber

SENSOR_DOWN = 'data-component="sensor" data-state="down"'
SENSOR_UP = 'data-component="sensor" data-state="up"'


def _db(c: Chamber, sql: str) -> list[Any]:
    db = sqlite3.connect(c.tmp / "data" / "chamberguard.db")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _sensor_pid(c: Chamber) -> int | None:
    import json

    rows = _db(c, "SELECT components FROM gate_heartbeats WHERE room = 'chamber'")
    if not rows or not rows[0][0]:
        return None
    sensor = json.loads(rows[0][0]).get("sensor", {})
    m = re.search(r"pid (\d+)", sensor.get("why", ""))
    return int(m.group(1)) if sensor.get("state") == "up" and m else None


def _login(c: Chamber) -> httpx.Client:
    client = httpx.Client(base_url=c.url(""), timeout=5)
    page = client.get("/login").text
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m
    r = client.post("/login", data={"username": "clerk", "password": "clerk-password-1",
                                    "csrf_token": m.group(1), "next": "/"})
    assert r.status_code == 303, r.text
    return client


def test_killed_sensor_is_shown_recorded_and_restarted(chamber: Chamber) -> None:
    c = chamber
    c.start_gate()
    c.start_web()
    web = _login(c)
    pids: list[int] = []

    def sensor_up() -> bool:
        pid = _sensor_pid(c)
        if pid is not None:
            pids.append(pid)
        return pid is not None

    c.wait_until(sensor_up, what="the sensor reported up", timeout=30)
    assert SENSOR_UP in web.get("/live/fragment").text
    old = pids[-1]

    os.kill(old, signal.SIGKILL)
    killed = time.monotonic()
    c.wait_until(lambda: SENSOR_DOWN in web.get("/live/fragment").text,
                 what="the clerk's page showing the sensor down", timeout=10, every=0.25)
    shown = time.monotonic() - killed
    assert shown <= 10
    page = web.get("/live/fragment").text
    assert "killed by signal 9" in page
    c.wait_until(lambda: bool(_db(c, "SELECT id FROM incidents WHERE kind = 'outage' AND "
                                     "component = 'sensor' AND ended_at IS NULL")),
                 what="an open sensor outage", timeout=5)

    pids.clear()
    c.wait_until(lambda: sensor_up() and pids[-1] != old,
                 what="the sensor restarted and capturing", timeout=30 - (time.monotonic()
                                                                         - killed))
    back = time.monotonic() - killed
    assert back <= 30
    c.wait_until(lambda: SENSOR_UP in web.get("/live/fragment").text,
                 what="the clerk's page showing the sensor up again", timeout=5)
    (row,) = _db(c, "SELECT started_at, ended_at, cause FROM incidents WHERE kind = 'outage' "
                    "AND component = 'sensor'")
    assert row[1] is not None and "killed by signal 9" in row[2]
    print(f"sensor kill -9: shown down after {shown:.1f} s, back after {back:.1f} s")
