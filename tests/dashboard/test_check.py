""""Check the chamber now" on the web (issue 21): the clerk and IT ask the gate, follow its
answer and see the green/red list; other roles cannot; a request no gate answers says so.
The gate's side here is the real check worker on a loopback stand-in (tests/check/gate.py);
tests/netns/test_check.py runs it in the real gate."""

from __future__ import annotations

import http.server
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient

from monitor.check import requests
from monitor.check.probe import fetch
from tests.check.gate import LoopbackGate
from tests.dashboard.conftest import Site, csrf_of


@pytest.fixture
def gate(site: Site) -> Iterator[LoopbackGate]:
    g = LoopbackGate(site.seeded.settings, site.seeded.db).start()
    try:
        yield g
    finally:
        g.stop()


def _ask(client: TestClient) -> str:
    page = client.get("/check")
    assert page.status_code == 200
    r = client.post("/check", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and re.fullmatch(r"/check/\d+", r.headers["location"])
    return str(r.headers["location"])


def _answer(client: TestClient, where: str, timeout: float = 12) -> str:
    """Follow the page's fragment as check.js does, until the gate has answered."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        frag = client.get(where + "/fragment")
        assert frag.status_code == 200
        if 'data-finished="yes"' in frag.text:
            return str(client.get(where).text)
        time.sleep(0.2)
    raise AssertionError("the gate did not answer the check")


def _line(html: str, title: str) -> tuple[str, str]:
    """(status, text) of the list's line for ``title``."""
    for li in unescape(html).split('<li class="check check-')[1:]:
        m = re.match(r"(\w+)\">.*?<strong>" + re.escape(title) + r":</strong>\s*(.*?)\s*</li>",
                     li, re.S)
        if m:
            return m.group(1), m.group(2)
    raise AssertionError(f"no {title!r} line in {html}")


@pytest.mark.parametrize("user", ["clerk", "it"])
def test_clerk_and_it_ask_the_gate_and_see_the_list(site: Site, gate: LoopbackGate,
                                                     user: str) -> None:
    client = site.login(user)
    started = time.monotonic()
    where = _ask(client)
    waiting = client.get(where).text
    assert "Checking" in waiting or 'id="check-list"' in waiting
    html = _answer(client, where)
    assert time.monotonic() - started < 10
    assert 'id="check-list"' in html and "Not ready" in html
    assert _line(html, "Gate")[0] == "ok"
    assert _line(html, "Allowlist presets")[0] == "ok"
    status, text = _line(html, "Agenda")
    # Allowed by the gate's policy, but this machine has no resolver: red, and it says why.
    assert status == "fail" and "democracy.example.gov.uk is allowed, but it does not resolve" \
        in text, text
    assert _line(html, "Sensor")[0] == "warn"
    status, text = _line(html, "Members' devices")
    assert "1 of 2 members" in text and "Cllr Grace Hopper" in text
    assert f"Asked by {'clerk' if user == 'clerk' else 'it'}" in html


def test_a_refused_agenda_is_red_with_the_reason(site: Site, gate: LoopbackGate) -> None:
    from monitor.store.models import PresetRow

    with site.seeded.db.session() as s:
        for key in ("moderngov", "public-i", "os-connectivity", "certificates"):
            s.add(PresetRow(key=key, enabled=key != "moderngov"))
    gate.stop()  # the policy is loaded when the stand-in starts
    g = LoopbackGate(site.seeded.settings, site.seeded.db).start()
    try:
        html = _answer(site.login("it"), _ask(site.login("it")))
    finally:
        g.stop()
    status, text = _line(html, "Agenda")
    assert status == "fail" and "would be refused democracy.example.gov.uk" in text, text
    assert _line(html, "Allowlist presets")[0] == "fail"


@pytest.mark.parametrize("user", ["officer", "viewer"])
def test_other_roles_cannot_check(site: Site, user: str) -> None:
    client = site.login(user)
    assert client.get("/check").status_code == 403
    page = client.get("/")
    token = csrf_of(page.text)
    assert client.post("/check", data={"csrf_token": token}).status_code == 403
    with site.seeded.db.session() as s:
        cid = requests.ask(s, "chamber", "clerk", datetime.now(UTC))
    assert client.get(f"/check/{cid}").status_code == 403
    assert client.get(f"/check/{cid}/fragment").status_code == 403
    with site.seeded.db.session() as s:
        assert requests.read(s, cid, datetime.now(UTC)) is not None
        assert s.query(requests.ChamberCheckRow).count() == 1  # theirs was never added


def test_a_check_no_gate_answers_is_red_and_says_why(site: Site) -> None:
    with site.seeded.db.session() as s:
        cid = requests.ask(s, "chamber", "clerk", datetime.now(UTC) - timedelta(seconds=30))
    html = site.login("clerk").get(f"/check/{cid}").text
    status, text = _line(html, "Gate")
    assert status == "fail" and "No gate for room 'chamber' picked up the check" in text
    assert "Not ready" in html


def test_a_stale_request_is_not_claimed_and_a_fresh_one_is_once(site: Site) -> None:
    now = datetime.now(UTC)
    with site.seeded.db.session() as s:
        old = requests.ask(s, "chamber", "clerk", now - timedelta(minutes=5))
        other_room = requests.ask(s, "annexe", "clerk", now)
        fresh = requests.ask(s, "chamber", "clerk", now)
    with site.seeded.db.session() as s:
        assert requests.claim(s, "chamber", now) == fresh
    with site.seeded.db.session() as s:
        assert requests.claim(s, "chamber", now) is None
        assert requests.read(s, old, now).state is requests.RequestState.UNANSWERED  # type: ignore[union-attr]
        assert requests.read(s, other_room, now).state is requests.RequestState.PENDING  # type: ignore[union-attr]


@pytest.fixture
def local_site() -> Iterator[int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        t.join(5)


def test_fetch_reads_the_status_or_says_why_not(local_site: int) -> None:
    import asyncio

    ok = asyncio.run(fetch("127.0.0.1", "localhost", "http", 2.0, port=local_site))
    assert ok.status == 200 and not ok.error
    refused = asyncio.run(fetch("127.0.0.1", "localhost", "http", 2.0, port=9))  # nothing there
    assert refused.status is None and refused.error
