"""The clerk's live dashboard and IT's pages in headless chromium (issue: "tested in a real
browser"): live updates without reload, clerk actions, the explain box, role doors, and an
axe-core accessibility check. Screenshots land in docs/screenshots/ (see the README)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, Browser, Server, login
from tests.dashboard.seed import ADA, ADA_MAC, GRACE_MAC, PASSWORD, attempt

pytestmark = pytest.mark.browser

LIVE = 2_000  # ms: an attempt reaches the open page this fast, without a reload


def expect() -> Any:
    from playwright.sync_api import expect as _expect

    return _expect


def axe_check(page: Any, what: str) -> list[dict[str, Any]]:
    """axe-core (bundled with axe-playwright-python, no network) in the page; fails on any
    serious or critical violation and returns the rest so they are printed."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    for v in violations:
        print(f"axe [{what}] {v['impact']}: {v['id']} — {v['help']} "
              f"({len(v['nodes'])} node(s): {v['nodes'][0]['target'] if v['nodes'] else ''})")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{what}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in bad)
    return violations


def save(page: Any, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def test_login_page_is_accessible(server: Server, browser: Browser) -> None:
    page = browser.session()
    page.goto(server.url("/"))
    assert page.url.startswith(server.url("/login"))  # not signed in: to the login form
    expect()(page.get_by_role("heading", name="Sign in")).to_be_visible()
    axe_check(page, "login page")
    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect()(page.get_by_role("alert")).to_contain_text("wrong username or password")


def test_keyboard_only(server: Server, browser: Browser) -> None:
    """Sign in and reach the clerk's buttons with the keyboard; focus is always visible."""
    ex = expect()
    page = browser.session()
    page.goto(server.url("/login"))

    def focused() -> dict[str, str]:
        info: dict[str, str] = page.evaluate(
            "() => { const e = document.activeElement, s = getComputedStyle(e);"
            " return {text: (e.textContent || '').trim(), name: e.name || '',"
            " outline: s.outlineStyle, shadow: s.boxShadow}; }")
        return info

    page.keyboard.press("Tab")
    first = focused()
    assert first["text"] == "Skip to main content"
    assert first["outline"] != "none" or first["shadow"] != "none"
    page.keyboard.press("Tab")
    assert focused()["name"] == "username"
    page.keyboard.type("clerk")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    ex(page.get_by_role("heading", name="No meeting in session")).to_be_visible()
    for _ in range(40):  # Tab until the Start button, then check its focus ring
        page.keyboard.press("Tab")
        if focused()["text"].startswith("Start meeting"):
            break
    else:
        pytest.fail("the Start button cannot be reached with Tab")
    assert focused()["outline"] != "none"


def test_a_live_update_never_cancels_the_clerks_own_submission(
        server: Server, browser: Browser) -> None:
    """Start is pressed; its result page is slow to come back, and meanwhile the live stream
    says the meeting changed. The page must wait for its own result (with the "done"
    message), not navigate itself and cancel it (seen in CI as a page that went to "/")."""
    page = browser.session()
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, server, "clerk")
    expect()(page.locator("#live-status")).to_contain_text("Live", timeout=5_000)
    ids = server.ids
    held: list[tuple[Any, Any]] = []

    def hold(route: Any) -> None:  # the server starts the meeting; its answer is held back
        held.append((route, route.fetch(max_redirects=0)))

    page.route(re.compile(r"/meetings/\d+/start$"), hold)
    page.locator(f"#meeting-{ids['meeting']}").get_by_role(
        "button", name=re.compile("Start meeting")).click(no_wait_after=True)
    for _ in range(10_000):  # until the server has started the meeting: a round trip to
        if held:  # the browser each (not to the page, whose frame waits on the submission)
            break
        page.context.cookies()
    # Something happens in the meeting: the live stream tells the page, which reads the
    # fragment — made after the Start, so it says "a meeting is in session".
    with page.expect_response(lambda r: "/live/fragment" in r.url, timeout=15_000):
        attempt(server.seeded.db, member_id=ids["ada"], device_id=ids["ada_device"],
                mac=ADA_MAC, meeting_id=ids["meeting"])
    # Only now does the page's own result arrive.
    route, response = held[0]
    route.fulfill(response=response)
    page.wait_for_url(re.compile(r"/\?done=clerk-start"))
    expect()(page.get_by_role("status").filter(has_text="Meeting started.")).to_be_visible()


def test_clerk_runs_a_meeting_and_sees_attempts_live(server: Server, browser: Browser) -> None:
    ex = expect()
    page = browser.session()
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    login(page, server, "clerk")
    db, ids = server.seeded.db, server.ids

    # Between meetings: readiness and the next meeting, with a Start button for the clerk.
    ex(page.get_by_role("heading", name="No meeting in session")).to_be_visible()
    ex(page.locator("#readiness")).to_contain_text("Gate")
    row = page.locator(f"#meeting-{ids['meeting']}")
    ex(row).to_contain_text("Council")
    row.get_by_role("button", name=re.compile("Start meeting")).click()
    page.wait_for_url(re.compile(r"/\?done=clerk-start"))
    assert dialogs and dialogs[0].startswith("Start Council now?")

    ex(page.get_by_role("status").filter(has_text="Meeting started.")).to_be_visible()
    ex(page.get_by_role("heading", level=1)).to_have_text("Council")
    ex(page.locator("#meeting-state .state-text")).to_have_text("In session")
    ex(page.locator("#meeting-state")).to_contain_text("by the clerk")
    ada_row = page.locator(f"#member-{ids['ada']}")
    ex(ada_row).to_contain_text("In the room, restricted")
    ex(page.locator(f"#member-{ids['grace']}")).to_contain_text(
        "Not on the chamber Wi-Fi")
    ex(page.locator("#feed")).to_contain_text("No app or site likely opened")

    # The gate records an attempt: it reaches the open page without a reload.
    page.evaluate("window.__sameDocument = true")
    ex(page.locator("#live-status")).to_contain_text("Live", timeout=5_000)
    attempt(db, member_id=ids["ada"], device_id=ids["ada_device"], mac=ADA_MAC,
            meeting_id=ids["meeting"])
    ex(page.locator("#feed-background")).to_contain_text(
        f"{ADA}'s device (iPad) looked up Instagram — refused: 1 lookup of 1 name at once; "
        "background activity likely", timeout=LIVE)
    ex(ada_row).to_contain_text("Instagram: 0 likely opened, 1 background (1 lookup)",
                                timeout=LIVE)
    ex(page.locator("#chart")).to_contain_text("Instagram", timeout=LIVE)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    ex(page.locator("#live-announce")).to_contain_text(
        "looked up www.instagram.com (Instagram) — refused")

    # More of the same device's lookups join that episode; another member, another platform;
    # a bypass attempt. (Timestamps a few seconds apart, within the episode gap.)
    now = datetime.now(UTC)
    for i in range(1, 4):
        attempt(db, member_id=ids["ada"], device_id=ids["ada_device"], mac=ADA_MAC,
                meeting_id=ids["meeting"], domain="graph.instagram.com",
                ts=now + timedelta(seconds=i))
    attempt(db, member_id=ids["grace"], device_id=ids["grace_device"], mac=GRACE_MAC,
            meeting_id=ids["meeting"], platform="tiktok", domain="www.tiktok.com",
            ts=now + timedelta(seconds=4))
    attempt(db, member_id=ids["grace"], device_id=ids["grace_device"], mac=GRACE_MAC,
            meeting_id=ids["meeting"], kind="bypass", domain="dns.google", detail="doh",
            ts=now + timedelta(seconds=5))
    ex(ada_row).to_contain_text("Instagram: 0 likely opened, 1 background (4 lookups)",
                                timeout=LIVE)
    grace_row = page.locator(f"#member-{ids['grace']}")
    ex(grace_row).to_contain_text("TikTok: 0 likely opened, 1 background (1 lookup)",
                                  timeout=LIVE)
    ex(grace_row.locator(".bypasses")).to_have_text("⚠ 1 use of another DNS service",
                                                    timeout=LIVE)
    ex(page.locator("#feed li").first).to_contain_text(
        "used another DNS service (often a browser or phone default)")
    ex(page.locator("#feed-background")).to_contain_text(
        "looked up Instagram — refused: 4 lookups of 2 names")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"

    save(page, "live-meeting.png", full_page=True)
    axe_check(page, "live meeting view")

    # Adjourn, then end: the state changes each time.
    page.get_by_role("button", name="Adjourn meeting").click()
    page.wait_for_url(re.compile(r"done=clerk-adjourn"))
    ex(page.locator("#meeting-state .state-text")).to_have_text("Adjourned")
    ex(page.get_by_role("button", name="Resume meeting")).to_be_visible()
    page.get_by_role("button", name="End meeting").click()
    page.wait_for_url(re.compile(r"done=clerk-end"))
    ex(page.get_by_role("status").filter(has_text="Meeting ended.")).to_be_visible()
    ex(page.get_by_role("heading", name="No meeting in session")).to_be_visible()
    assert [d.split(" ", 1)[0] for d in dialogs] == ["Start", "Adjourn", "End"]

    # The clerk's report of the meeting keeps the counts.
    page.goto(server.url(f"/reports/{ids['meeting']}"))
    ex(page.locator(f"#member-{ids['ada']}")).to_contain_text(
        "Instagram: 0 likely opened, 1 background (4 lookups)")


def test_clerk_actions_work_without_javascript(server: Server, browser: Browser) -> None:
    ex = expect()
    page = browser.session(javascript=False)
    login(page, server, "clerk")
    page.locator(f"#meeting-{server.ids['meeting']}").get_by_role(
        "button", name=re.compile("Start meeting")).click()
    ex(page.get_by_role("heading", name="Start the meeting?")).to_be_visible()
    page.get_by_role("button", name="Yes, start the meeting").click()
    ex(page.locator("#meeting-state .state-text")).to_have_text("In session")
    page.get_by_role("button", name="End meeting").click()
    ex(page.get_by_role("heading", name="End the meeting?")).to_be_visible()
    page.get_by_role("link", name="No, go back").click()
    ex(page.locator("#meeting-state .state-text")).to_have_text("In session")
    # Large type: a cookie, applied by the server as a class on <body>.
    page.get_by_role("button", name="Large text").click()
    ex(page.locator("body")).to_have_class(re.compile(r"\blarge\b"))
    ex(page.get_by_role("button", name="Large text")).to_have_attribute("aria-pressed", "true")


def test_it_adds_a_rule_and_the_explain_box_shows_the_new_verdict(
        server: Server, browser: Browser) -> None:
    ex = expect()
    page = browser.session()
    page.on("dialog", lambda d: d.accept())
    login(page, server, "it", "/admin/allowlist")
    assert page.url.endswith("/admin/allowlist")
    ex(page.get_by_role("heading", name="Allowlist", level=1)).to_be_visible()
    ex(page.locator("#presets")).to_contain_text("Without os-connectivity, phones")

    def explain(name: str, device: str | None = None) -> Any:
        page.get_by_label("Name (e.g. www.instagram.com)").fill(name)
        page.get_by_label("Device (optional)").select_option(device or "")
        page.get_by_role("button", name="Explain").click()
        return page.locator("#verdict")

    verdict = explain("papers.example.net", ADA_MAC)
    ex(verdict).to_contain_text("During a meeting, for a member's device: Refused")
    ex(verdict).to_contain_text("not on the allowlist")
    ex(verdict).to_contain_text("Right now, for 02:00:5e:10:00:01: Allowed")

    page.get_by_label("Name", exact=True).fill("papers.example.net")
    page.get_by_label("Category").select_option("agenda")
    page.get_by_label("Note (why)").fill("Committee papers host")
    page.get_by_role("button", name="Add rule").click()
    ex(page.get_by_role("status").filter(has_text="Rule added")).to_be_visible()
    ex(page.locator("#rules")).to_contain_text("papers.example.net")

    verdict = explain("docs.papers.example.net")
    ex(verdict).to_contain_text("During a meeting, for a member's device: Allowed")
    ex(verdict).to_contain_text("Agenda is allowed during meetings")
    ex(verdict).to_contain_text("papers.example.net and its subdomains (it)")
    verdict = explain("www.instagram.com")
    ex(verdict).to_contain_text("Refused")
    ex(verdict).to_contain_text("Instagram is a social platform")
    page.set_viewport_size({"width": 1280, "height": 1250})
    page.evaluate("window.scrollTo(0, 0)")
    save(page, "it-allowlist.png")
    axe_check(page, "IT allowlist page")

    # A refused rule is explained on the page, with the form as typed.
    page.get_by_label("Name", exact=True).fill("com")
    page.get_by_role("button", name="Add rule").click()
    ex(page.get_by_role("alert")).to_contain_text("whole top-level domain")
    ex(page.get_by_label("Name", exact=True)).to_have_value("com")


def test_it_claims_an_unregistered_device(server: Server, browser: Browser) -> None:
    ex = expect()
    page = browser.session()
    login(page, server, "it", "/admin/devices")
    row = page.locator(f"#unreg-{server.ids['stranger']}")
    ex(row).to_contain_text("Jos-iPhone")
    ex(row).to_contain_text("Private (randomised) address")
    row.get_by_label(re.compile("Member for")).select_option(label="Cllr Grace Hopper")
    row.get_by_label(re.compile("Label for")).fill("Spare phone")
    row.get_by_role("button", name=re.compile("Register")).click()
    ex(page.get_by_role("status")).to_contain_text("Device registered to the member")
    ex(page.locator(f"#device-{server.ids['stranger']}")).to_contain_text("Cllr Grace Hopper")
    axe_check(page, "IT members and devices page")


def test_a_clerk_cannot_open_it_pages(server: Server, browser: Browser) -> None:
    ex = expect()
    page = browser.session()
    login(page, server, "clerk")
    ex(page.get_by_role("link", name="Allowlist")).to_have_count(0)
    for path in ("/admin", "/admin/allowlist", "/admin/devices", "/admin/meetings",
                 "/admin/users", "/audit"):
        resp = page.goto(server.url(path))
        assert resp is not None and resp.status == 403, path
        assert resp.headers["content-type"].startswith("text/html"), path
        ex(page.get_by_role("heading", level=1)).to_contain_text("Not allowed")
        ex(page.locator("main")).to_contain_text("Your account (clerk) cannot open this page")
