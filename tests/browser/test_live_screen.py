"""The clerk's screen as a council uses it (issue 21): 60 members on one screen at laptop
(1366×768) and landscape-iPad (1024×768) sizes, a phone (390×844) that scrolls but never
sideways; the Start button always reachable; Extend when a meeting overruns; exceptions that
reach the gate's policy. Each size also passes the axe checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from allowlist.clock import ClerkAction
from api.devices.service import register_device
from api.meetings.service import clerk_action
from api.members.service import create_member
from monitor.store.models import Meeting
from monitor.store.policy_loader import load_policy
from tests.browser.conftest import Browser, Server, login
from tests.browser.test_dashboard import axe_check, expect, save
from tests.dashboard.seed import ADA_MAC, attempt

pytestmark = pytest.mark.browser

SIZES = [(1366, 768), (1024, 768), (390, 844)]
GRACE = timedelta(minutes=5)
SURNAMES = ["Abbott", "Bhatt", "Campbell", "Davies", "Evans", "Fletcher", "Garcia", "Hughes",
            "Iqbal", "Jones", "Khan", "Lewis", "Morgan", "Nwosu", "O'Brien", "Patel",
            "Quinn", "Roberts", "Singh", "Thomas", "Underwood", "Vaughan", "Williams",
            "Xu", "Young", "Zielinski", "Ahmed", "Baker", "Clarke"]


def sixty_members(server: Server, *, meeting_ends_in: timedelta) -> dict[str, int]:
    """58 more members (60 in all), two thirds on the chamber Wi-Fi, a few with attempts;
    the meeting started by the clerk and due to end soon (so Extend is offered)."""
    db, ids = server.seeded.db, server.ids
    now = datetime.now(UTC)
    out: dict[str, int] = {}
    with db.session() as s:
        m = s.get(Meeting, ids["meeting"])
        assert m is not None
        m.start, m.end = now - timedelta(hours=2), now + meeting_ends_in
        for i in range(58):
            name = f"Cllr {'ABCDEFGHJKLMNPRSTW'[i % 18]}. {SURNAMES[i % len(SURNAMES)]}-{i + 1}"
            mem = create_member(s, name=name, actor="seed")
            dev = register_device(s, mac=f"02:00:5e:20:{i // 256:02x}:{i % 256:02x}",
                                  member_id=mem.id, label="iPad", actor="seed")
            if i % 3:
                dev.last_seen = now
            out[f"m{i}"], out[f"d{i}"] = mem.id, dev.id
        s.flush()
        clerk_action(s, meeting_id=ids["meeting"], action=ClerkAction.START, actor="clerk",
                     grace=GRACE, at=now - timedelta(hours=1))
    for i in (1, 4, 7):
        attempt(db, member_id=out[f"m{i}"], device_id=out[f"d{i}"],
                mac=f"02:00:5e:20:00:{i:02x}", meeting_id=ids["meeting"],
                platform="linkedin", domain="www.linkedin.com")
    attempt(db, member_id=ids["ada"], device_id=ids["ada_device"], mac=ADA_MAC,
            meeting_id=ids["meeting"])
    return out


def whole_on_screen(page: Any, selector: str) -> None:
    """The element is wholly inside the viewport. Playwright's retrying assertion, not one
    bounding-box read: live updates replace these elements, and a read that lands on one just
    swapped out sees a detached node."""
    expect()(page.locator(selector).first).to_be_in_viewport(ratio=1)


def no_sideways_scroll(page: Any) -> None:
    w = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    wide = page.evaluate(
        "() => Array.from(document.querySelectorAll('body *')).filter(e =>"
        " e.getBoundingClientRect().right > window.innerWidth + 1"
        " && !(e.parentElement && e.parentElement.closest('.table-wrap'))).slice(0, 5)"
        ".map(e => e.tagName + '#' + e.id + '.' + e.className)")
    assert w[0] <= w[1], f"the page scrolls sideways: {w} {wide}"


def chart_labels_whole(page: Any) -> None:
    clipped = page.evaluate(
        "() => Array.from(document.querySelectorAll('.bar-label, .bar-note'))"
        ".filter(e => e.scrollWidth > e.clientWidth + 1 ||"
        " e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)"
        ".map(e => e.textContent)")
    assert clipped == [], f"chart text clipped: {clipped}"


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_sixty_members_fit_one_screen(server: Server, browser: Browser, width: int,
                                      height: int) -> None:
    ex = expect()
    extra = sixty_members(server, meeting_ends_in=timedelta(minutes=2))
    page = browser.session(width=width, height=height)
    page.on("dialog", lambda d: d.accept())
    login(page, server, "clerk")
    ex(page.locator("#meeting-state .state-text")).to_have_text("In session")
    ex(page.locator(".tile")).to_have_count(60)
    ex(page.locator("#live-status")).to_contain_text("Live", timeout=5_000)
    ex(page.locator(f"#member-{extra['m0']}")).to_contain_text("Not on the chamber Wi-Fi")
    ex(page.locator(f"#member-{extra['m1']}")).to_contain_text("In the room, restricted")
    ex(page.locator(f"#member-{extra['m1']}")).to_contain_text(
        "LinkedIn: 0 likely opened, 1 background")
    ex(page.locator(".member-counts")).to_contain_text("39 in the room")
    no_sideways_scroll(page)
    chart_labels_whole(page)
    desktop = width >= 1000
    if desktop:
        h = page.evaluate("() => [document.documentElement.scrollHeight, window.innerHeight]")
        assert h[0] <= h[1], f"the live page scrolls at {width}×{height}: {h}"
        for sel in ("#meeting-state", "button:has-text('End meeting')",
                    "button:has-text('Extend +30 min')", "#site-status", "#live-status",
                    "#feed li", "#chart .bar-row", "#members .member-counts"):
            whole_on_screen(page, sel)
        assert page.locator("#component-health-slot").count() == 1
    save(page, "live-60-members.png" if width == 1366 else f"live-60-members-{width}.png")
    axe_check(page, f"live page, 60 members, {width}×{height}")

    # Sorting: members with activity first, without JavaScript state (a link).
    page.get_by_role("link", name="Most activity").click()
    ex(page.locator(".tile").first).to_have_class(re.compile("has-activity"))

    # Overrun: Extend +30 min moves the end; the button goes until the next window.
    page.get_by_role("button", name="Extend +30 min").click()
    done = page.get_by_role("status").filter(has_text="Meeting extended by 30 minutes.")
    ex(done).to_be_visible()
    ex(page.locator("#meeting-state")).to_contain_text("(extended by 30 min)")
    ex(page.get_by_role("button", name="Extend +30 min")).to_have_count(0)


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_an_exception_reaches_the_gate_policy(server: Server, browser: Browser, width: int,
                                              height: int) -> None:
    """The clerk exempts a member with a reason on the live page, at each size: the form
    fits (no sideways scrolling, every control on screen when reached), the gate's policy
    lets the member through, and the page passes the axe checks before and after."""
    ex = expect()
    db, ids = server.seeded.db, server.ids
    sixty_members(server, meeting_ends_in=timedelta(hours=1))
    page = browser.session(width=width, height=height)
    login(page, server, "clerk")
    with db.session() as s:
        before = load_policy(s, server.seeded.settings, datetime.now(UTC))
    assert before.restriction(ADA_MAC, datetime.now(UTC)).restricted
    page.get_by_text("Grant an exception…").click()
    who = page.get_by_label("Member or device")
    reason = page.get_by_label("Reason")
    grant = page.get_by_role("button", name="Grant for this meeting")
    for control in (who, reason, grant):
        control.scroll_into_view_if_needed()
        ex(control).to_be_in_viewport(ratio=1)  # whole, not cut off at the edge
    no_sideways_scroll(page)
    axe_check(page, f"exception form open, {width}×{height}")
    who.select_option(label="Cllr Ada Lovelace (all devices)")
    reason.fill("Reasonable adjustment: reads papers aloud")
    grant.click()
    ex(page.get_by_role("status").filter(has_text="Exception granted")).to_be_visible()
    ex(page.locator(f"#member-{ids['ada']}")).to_contain_text("Exception granted")
    ex(page.locator("#exceptions")).to_contain_text("Reasonable adjustment: reads papers aloud")
    with db.session() as s:  # what the gate loads when it sees the new revision
        after = load_policy(s, server.seeded.settings, datetime.now(UTC))
    assert after.revision > before.revision
    r = after.restriction(ADA_MAC, datetime.now(UTC))
    assert not r.restricted and "exception" in r.reason
    no_sideways_scroll(page)
    axe_check(page, f"live page with an exception, {width}×{height}")
    withdraw = page.get_by_role("button", name=re.compile("Withdraw"))
    withdraw.scroll_into_view_if_needed()
    ex(withdraw).to_be_in_viewport(ratio=1)
    withdraw.click()
    ex(page.get_by_role("status").filter(has_text="Exception withdrawn")).to_be_visible()
    ex(page.locator(f"#member-{ids['ada']}")).to_contain_text("In the room, restricted")


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_between_meetings_the_start_button_is_on_screen(
        server: Server, browser: Browser, width: int, height: int) -> None:
    ex = expect()
    db, ids = server.seeded.db, server.ids
    now = datetime.now(UTC)
    with db.session() as s:  # a meeting ended early by the clerk: it leaves "Next meetings"
        ended = Meeting(source="manual", title="Cabinet", committee_title="Cabinet",
                        start=now - timedelta(minutes=30), end=now + timedelta(hours=1))
        s.add(ended)
        s.flush()
        clerk_action(s, meeting_id=ended.id, action=ClerkAction.START, actor="clerk",
                     grace=GRACE, at=now - timedelta(minutes=20))
        clerk_action(s, meeting_id=ended.id, action=ClerkAction.END, actor="clerk",
                     grace=GRACE, at=now - timedelta(minutes=5))
        ended_id = ended.id
    page = browser.session(width=width, height=height)
    login(page, server, "clerk")
    ex(page.get_by_role("heading", name="No meeting in session")).to_be_visible()
    ex(page.locator(f"#meeting-{ended_id}")).to_have_count(0)
    button = page.locator(f"#meeting-{ids['meeting']}").get_by_role(
        "button", name=re.compile("Start meeting"))
    button.scroll_into_view_if_needed()
    ex(button).to_be_in_viewport(ratio=1)
    no_sideways_scroll(page)
    if width >= 1000:
        whole_on_screen(page, f"#meeting-{ids['meeting']} button")
    axe_check(page, f"between meetings, {width}×{height}")


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_it_issues_a_registration_slip(server: Server, browser: Browser, width: int,
                                       height: int) -> None:
    """From Members & devices: a one-time code on a printable slip with the member, the
    expiry in UK time, the chamber-side address and a QR code that decodes to it."""
    ex = expect()
    page = browser.session(width=width, height=height)
    login(page, server, "it", "/admin/devices")
    page.get_by_role("button", name="Registration code and slip for Cllr Ada Lovelace").click()
    ex(page.locator("#slip-member")).to_have_text("Cllr Ada Lovelace")
    code = page.locator("#slip-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    ex(page.locator("#slip-expiry")).to_contain_text("(UK time)")
    expiry = page.locator("#slip-expiry").inner_text()
    assert re.match(r"\d\d:\d\d on \w{3} \d{1,2} \w{3} \d{4} \(UK time\)", expiry)
    address = page.locator("#slip-address").inner_text()
    assert address == "http://198.51.100.1:8080/register"
    qr = page.locator(".slip-qr svg")
    ex(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 120  # big enough to scan from paper
    no_sideways_scroll(page)
    # The slip's QR code is the address (segno encodes; we re-encode and compare paths).
    import segno

    drawn = page.locator(".slip-qr svg path.qrline").get_attribute("d")
    assert drawn == re.search(r'class="qrline"[^>]*d="([^"]+)"', segno.make(
        address, error="m").svg_inline(scale=5)).group(1)  # type: ignore[union-attr]
    if width == 1366:
        save(page, "registration-slip.png", full_page=True)
    axe_check(page, f"registration slip, {width}×{height}")
    # The member can use the code: it is live in the database (only its hash is stored).
    from api.registration.service import hash_code
    from monitor.store.models import RegistrationCode

    with server.seeded.db.session() as s:
        row = s.query(RegistrationCode).filter_by(code_hash=hash_code(code)).one()
        assert row.member_id == server.ids["ada"] and row.used_at is None


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_it_edits_cancels_and_deletes_meetings(server: Server, browser: Browser, width: int,
                                               height: int) -> None:
    """Times and room edited in UK time; an imported meeting without an end is flagged; a
    manual meeting deleted; another cancelled — each change in the audit log."""
    from monitor.store.models import AuditRow

    ex = expect()
    db, ids = server.seeded.db, server.ids
    now = datetime.now(UTC)
    with db.session() as s:
        imported = Meeting(source="ical", source_id="uid-1", title="Cabinet",
                           committee_title="Cabinet", start=now + timedelta(days=2),
                           end=now + timedelta(days=2, hours=3), end_guessed=True)
        spare = Meeting(source="manual", title="Typo meeting", committee_title="Typo meeting",
                        start=now + timedelta(days=3), end=now + timedelta(days=3, hours=1))
        s.add_all([imported, spare])
        s.flush()
        imported_id, spare_id = imported.id, spare.id
    page = browser.session(width=width, height=height)
    page.on("dialog", lambda d: d.accept())
    login(page, server, "it", "/admin/meetings")
    ex(page.locator(f"#meeting-{imported_id}")).to_contain_text("End not given: 3 h assumed")
    no_sideways_scroll(page)
    axe_check(page, f"meetings page, {width}×{height}")

    page.locator(f"#meeting-{imported_id}").get_by_role("link", name=re.compile("Edit")).click()
    ex(page.locator("#end-guessed")).to_be_visible()
    axe_check(page, f"meeting edit page, {width}×{height}")
    page.get_by_label("Ends").fill("21:30")
    page.get_by_label("Room (empty: any)").fill("chamber")
    page.get_by_role("button", name="Save").click()
    ex(page.get_by_role("status")).to_contain_text("Meeting changed.")
    row = page.locator(f"#meeting-{imported_id}")
    ex(row).to_contain_text("21:30")
    ex(row).not_to_contain_text("End not given")
    ex(row).to_contain_text("chamber")

    page.locator(f"#meeting-{spare_id}").get_by_role("link", name=re.compile("Edit")).click()
    page.get_by_role("button", name="Delete (entered by mistake)").click()
    ex(page.get_by_role("status")).to_contain_text("Meeting deleted.")
    ex(page.locator(f"#meeting-{spare_id}")).to_have_count(0)

    page.locator(f"#meeting-{ids['meeting']}").get_by_role("link", name=re.compile("Edit")).click()
    page.get_by_role("button", name="Cancel the meeting").click()
    ex(page.locator(f"#meeting-{ids['meeting']}")).to_contain_text("Cancelled")
    with db.session() as s:
        acts = {(a.action, a.entity_id) for a in s.query(AuditRow).filter_by(entity="meeting")}
    assert {("update", str(imported_id)), ("delete", str(spare_id)),
            ("cancel", str(ids["meeting"]))} <= acts


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_it_sees_refused_names_and_learns_on_the_device_page(
        server: Server, browser: Browser, width: int, height: int) -> None:
    """A member cannot reach the papers: the device's page lists the unlisted names it was
    refused (as the gate's tick writes them), "Allow this host" fills in the rule form, and
    learn mode starts and stops from the page."""
    from monitor.refused_names import RefusedNames

    ex = expect()
    db, ids = server.seeded.db, server.ids
    rec = RefusedNames(keep=timedelta(hours=24))
    rec.note(ids["ada_device"], "papers-cdn.example.net", datetime.now(UTC).timestamp())
    with db.session() as s:
        rec.flush(s, datetime.now(UTC))
    page = browser.session(width=width, height=height)
    login(page, server, "it", "/admin/devices")
    page.locator(f"#device-{ids['ada_device']}").get_by_role("link", name="iPad").click()
    ex(page.locator("#refused-names")).to_contain_text("papers-cdn.example.net")
    no_sideways_scroll(page)
    axe_check(page, f"device page, {width}×{height}")
    page.get_by_role("button", name="Start learning").click()
    ex(page.get_by_role("status")).to_contain_text("Learn mode started")
    page.get_by_role("button", name="Stop learning").click()
    ex(page.get_by_role("status")).to_contain_text("Learn mode stopped")
    page.get_by_role("link", name=re.compile(r"Allow this host\W+papers-cdn\.example\.net")).click()
    ex(page.get_by_label("Name", exact=True)).to_have_value("papers-cdn.example.net")
    ex(page.get_by_label("Note (why)")).to_have_value(re.compile("Needed by iPad"))


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_audit_log_is_a_readable_table_with_filters(server: Server, browser: Browser,
                                                    width: int, height: int) -> None:
    ex = expect()
    with server.seeded.db.session() as s:
        clerk_action(s, meeting_id=server.ids["meeting"], action=ClerkAction.START,
                     actor="clerk", grace=GRACE)
    page = browser.session(width=width, height=height)
    login(page, server, "officer", "/audit")
    page.get_by_label("Action (e.g. create, clerk-start)").fill("clerk-start")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.audit tbody tr")
    ex(rows).to_have_count(1)
    ex(rows.first).to_contain_text("state: scheduled (before)")
    ex(rows.first).to_contain_text("(UK time)")
    no_sideways_scroll(page)
    axe_check(page, f"audit log, {width}×{height}")
