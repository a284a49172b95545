"""Issue #2: one meeting, end to end, on real kernel networking (DESIGN §8)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any

import httpx

from tests.netns.harness import (
    AGENDA,
    AGENDA_IP,
    FACEBOOK,
    FACEBOOK_IP,
    Chamber,
)


def login(c: Chamber, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=c.url(""), timeout=5, follow_redirects=False)
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf, "next": "/"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return client


def subscribe(
    client: httpx.Client,
    received: list[tuple[float, dict[str, Any]]],
    ready: threading.Event,
    stop: threading.Event,
) -> None:
    try:
        with client.stream("GET", "/api/v1/events/stream", timeout=30) as resp:
            assert resp.status_code == 200
            ready.set()
            event: dict[str, Any] = {}
            for line in resp.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                elif line == "" and event:
                    received.append((time.monotonic(), event))
                    event = {}
    except httpx.HTTPError:
        if not stop.is_set():
            raise


def test_one_meeting_end_to_end(chamber: Chamber) -> None:
    c = chamber
    c.start_gate()
    c.start_web()

    # The live feed requires a login.
    assert httpx.get(c.url("/api/v1/events/stream"), timeout=5).status_code == 401
    assert httpx.get(c.url("/"), timeout=5).status_code == 303
    clerk = login(c, "clerk", "clerk-password-1")
    received: list[tuple[float, dict[str, Any]]] = []
    ready, stop = threading.Event(), threading.Event()
    t = threading.Thread(target=subscribe, args=(clerk, received, ready, stop), daemon=True)
    t.start()
    assert ready.wait(10)

    # 1. The agenda resolves through the gate and can be fetched.
    ans = c.resolve(c.member, AGENDA)
    assert ans["rcode"] == "NOERROR" and ans["addresses"] == [AGENDA_IP], ans
    assert max(ans["ttls"]) <= 30, "TTLs for restricted clients are clamped"
    got = c.fetch(c.member, AGENDA_IP, AGENDA)
    assert got["ok"] and AGENDA in got["body"], got

    # 2. Facebook by name: NXDOMAIN. By address: refused at once (TCP reset).
    sent = time.monotonic()
    ans = c.resolve(c.member, FACEBOOK)
    assert ans["rcode"] == "NXDOMAIN", ans
    got = c.fetch(c.member, FACEBOOK_IP, FACEBOOK)
    assert not got["ok"] and got["error"] == "ConnectionRefusedError", got

    # 3. The attempt is stored with member, device, platform and time, and reaches the
    #    subscribed dashboard feed within 2 s.
    Chamber.wait_until(
        lambda: any(e["platform"] == "facebook" for _, e in received),
        what="attempt on the live feed",
        timeout=5,
    )
    arrival, event = next((ts, e) for ts, e in received if e["platform"] == "facebook")
    assert arrival - sent < 2.0, f"live feed took {arrival - sent:.2f}s"
    assert event["member"] == "Cllr Ada Lovelace" and event["device"] == "iPad"
    assert event["platform_name"] == "Facebook" and event["kind"] == "attempt"
    assert event["text"].startswith("Cllr Ada Lovelace's device (iPad) looked up ")
    assert event["text"].endswith("(Facebook) — refused")
    db = sqlite3.connect(c.tmp / "data" / "chamberguard.db")
    row = db.execute(
        "SELECT e.ts, m.name, d.mac, e.platform, e.domain, e.action FROM events e "
        "JOIN members m ON m.id = e.member_id JOIN devices d ON d.id = e.device_id "
        "WHERE e.kind = 'attempt'"
    ).fetchone()
    assert row[1:] == ("Cllr Ada Lovelace", c.member.mac, "facebook", FACEBOOK, "refused")
    assert row[0].startswith(time.strftime("%Y-%m-%d", time.gmtime()))

    # The guest in the same room is never restricted, and nothing is recorded about it.
    assert c.resolve(c.guest, FACEBOOK)["addresses"] == [FACEBOOK_IP]
    assert c.fetch(c.guest, FACEBOOK_IP, FACEBOOK)["ok"]
    assert (
        db.execute("SELECT count(*) FROM events WHERE mac = ?", (c.guest.mac,)).fetchone()[0] == 0
    )

    # 4. After the clerk ends the meeting, the member reaches Facebook again.
    stop.set()
    c.cli("meetings", "end", str(c.ids["meeting"]))
    Chamber.wait_until(
        lambda: c.resolve(c.member, FACEBOOK).get("rcode") == "NOERROR",
        what="restriction lifted at meeting end",
        timeout=10,
    )
    assert c.fetch(c.member, FACEBOOK_IP, FACEBOOK)["ok"]


def test_malformed_dns_never_crashes_the_gate(chamber: Chamber) -> None:
    c = chamber
    c.start_gate()
    # Garbage with a header: FORMERR. Too short to answer: dropped. A response: dropped.
    assert c.probe(c.guest, "raw", "00010000000100000000000003")["rcode"] == 1
    assert c.probe(c.guest, "raw", "ffff")["answered"] is False
    assert (
        c.probe(c.guest, "raw", "0001818000010000000000000377777700000100" + "01")["answered"]
        is False
    )
    # Compression-pointer loop in the question.
    assert c.probe(c.guest, "raw", "000201000001000000000000c00c00010001")["rcode"] == 1
    assert c.resolve(c.member, AGENDA)["rcode"] == "NOERROR"
    assert c.gate is not None and c.gate.poll() is None
