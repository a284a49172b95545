"""The registration pages in headless chromium, as a member's phone sees them: a small
screen, no JavaScript of its own, and an axe-core accessibility check of every state (the form,
a refused code, the device list). The app runs under uvicorn on 127.0.0.1, which a stand-in
neighbour table maps to a phone's MAC."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.app import create_app
from tests.api.conftest import make_settings
from tests.registration.conftest import PHONE_MAC, Chamber

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


def _skip_reason() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is not installed"
    try:
        import axe_playwright_python  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"{exc}; pip install -e '.[test]'"
    return None


@pytest.fixture
def site(chamber: Chamber, tmp_path: Path) -> Iterator[str]:
    """The chamber fixture's database behind a real server on 127.0.0.1 (a 'chamber' address
    here), with 127.0.0.1 mapped to the phone's MAC."""
    reason = _skip_reason()
    if reason:
        pytest.skip(f"browser test: {reason}")
    import socket

    import uvicorn

    settings = make_settings(tmp_path, '[chamber]\nsubnets = ["127.0.0.0/8"]\n')
    app = create_app(settings, chamber.env.db)
    app.state.neighbour_dump = lambda: {"127.0.0.1": PHONE_MAC}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name="register-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "web app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[Any]:
    """Chromium with a phone-sized window. JavaScript stays on because axe-core runs in the
    page; the pages themselves ship none (checked below)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=LAUNCH_ARGS,
            headless=True, viewport={"width": 390, "height": 844},
            is_mobile=True, has_touch=True, locale="en-GB", timezone_id="Europe/London")
        ctx.set_default_timeout(10_000)
        try:
            yield ctx.pages[0] if ctx.pages else ctx.new_page()
        finally:
            ctx.close()


def axe_check(page: Any, what: str) -> None:
    """axe-core in the page (bundled, no network): no violation of any impact is accepted —
    the page is small and new, so it can be clean."""
    from axe_playwright_python.sync_playwright import Axe

    response = Axe().run(page).response
    assert response["passes"], f"{what}: axe ran no checks"
    violations = response["violations"]
    assert not violations, f"{what}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in violations)


def test_a_member_registers_a_phone_in_a_browser(site: str, phone: Any,
                                                 chamber: Chamber) -> None:
    from playwright.sync_api import expect

    code = chamber.code(chamber.member())
    phone.goto(site + "/register")
    expect(phone.get_by_role("heading", name="Register your device")).to_be_visible()
    axe_check(phone, "registration form")
    assert phone.locator("script").count() == 0  # works with JavaScript off
    # No horizontal scrolling on a phone.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

    phone.get_by_label("Registration code").fill("ABCD-EFGH-2345")
    phone.get_by_role("button", name="Register this device").click()
    expect(phone.get_by_role("alert")).to_contain_text("That code is not right")
    axe_check(phone, "registration form with an error")

    phone.get_by_label("Registration code").fill(code.lower().replace("-", " "))
    phone.get_by_label("Name for this device (optional)").fill("Ada's phone")
    phone.get_by_role("button", name="Register this device").click()
    expect(phone.get_by_role("heading", name="Your devices")).to_be_visible()
    expect(phone.get_by_role("status")).to_contain_text("This device is now registered to you.")
    expect(phone.get_by_text("Ada's phone")).to_be_visible()
    expect(phone.get_by_role("button", name="Remove Ada's phone (this device)")).to_be_visible()
    axe_check(phone, "my devices")

    phone.get_by_role("button", name="Remove Ada's phone (this device)").click()
    expect(phone.get_by_role("status")).to_contain_text("The device has been removed.")
    expect(phone.get_by_text("This device is not registered to anyone.")).to_be_visible()
    axe_check(phone, "my devices after removal")
