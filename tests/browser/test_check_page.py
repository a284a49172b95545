""""Check the chamber now" in Chromium (issue 21 item 4) at laptop, iPad and phone sizes:
the clerk (from the live page) and IT ask the gate, the page shows it checking, then the
green/red list arrives in under 10 seconds; axe finds nothing. The gate's side is the real
check worker on a loopback stand-in (no resolver: the agenda is allowed but does not
resolve, so its line is red and says why)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.conftest import Browser, Server, login
from tests.browser.test_dashboard import axe_check, expect, save
from tests.browser.test_live_screen import SIZES, no_sideways_scroll
from tests.check.gate import LoopbackGate

pytestmark = pytest.mark.browser


@pytest.fixture
def gate(server: Server) -> Iterator[LoopbackGate]:
    g = LoopbackGate(server.seeded.settings, server.seeded.db).start()
    try:
        yield g
    finally:
        g.stop()


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("user", ["clerk", "it"])
def test_check_the_chamber_now(server: Server, browser: Browser, gate: LoopbackGate,
                               width: int, height: int, user: str) -> None:
    ex = expect()
    page = browser.session(width=width, height=height)
    login(page, server, user)
    if user == "clerk":
        page.get_by_role("link", name="Check the chamber now").click()
    else:
        page.goto(server.url("/check"))
    started = datetime.now(UTC)
    page.get_by_role("button", name="Check the chamber now").click()
    ex(page).to_have_url(re.compile(r"/check/\d+$"))
    ex(page.locator("#check-list")).to_be_visible(timeout=12_000)
    assert datetime.now(UTC) - started < timedelta(seconds=10)
    items = page.locator("#check-list li")
    ex(items.filter(has_text="Gate:")).to_have_class(re.compile("check-ok"))
    ex(items.filter(has_text="Allowlist presets:")).to_have_class(re.compile("check-ok"))
    agenda = items.filter(has_text="Agenda:")
    ex(agenda).to_have_class(re.compile("check-fail"))
    ex(agenda).to_contain_text("is allowed, but it does not resolve")
    ex(items.filter(has_text="Members' devices:")).to_contain_text("1 of 2 members")
    ex(page.get_by_role("heading", level=2)).to_contain_text("Not ready")
    ex(page.get_by_role("button", name="Check again")).to_be_visible()
    no_sideways_scroll(page)
    if width == 1366 and user == "clerk":
        save(page, "chamber-check.png", full_page=True)
    axe_check(page, f"chamber check, {width}×{height}")


def test_the_check_page_says_it_is_waiting_for_the_gate(server: Server,
                                                       browser: Browser) -> None:
    """No gate running: the page shows the request waiting, then a red line saying no gate
    picked it up (never a blank or a spinner for ever)."""
    ex = expect()
    page = browser.session(width=1366, height=768)
    login(page, server, "it")
    page.goto(server.url("/check"))
    page.get_by_role("button", name="Check the chamber now").click()
    ex(page.get_by_role("heading", level=2)).to_contain_text("Checking")
    axe_check(page, "chamber check waiting")
    ex(page.locator("#check-list")).to_be_visible(timeout=12_000)
    ex(page.locator("#check-list li").filter(has_text="Gate:")).to_contain_text(
        "No gate for room 'chamber' picked up the check")
