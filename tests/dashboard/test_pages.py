"""The dashboard without a browser: what each role sees, the doors, the no-JavaScript paths
(confirmation pages, forms, uploads), the banners, and the CSP-friendly markup."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from allowlist.categories import Mode
from api.site.service import set_mode
from monitor.store.models import Device, Meeting, PresetRow, RuleRow
from tests.dashboard.conftest import Site, csrf_of
from tests.dashboard.seed import ADA, ADA_MAC, PASSWORD, STRANGER_MAC, attempt, heartbeat

IT_PAGES = ("/admin", "/admin/allowlist", "/admin/platforms", "/admin/devices",
            "/admin/meetings", "/admin/users")
ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:cabinet-1@example.gov.uk
DTSTAMP:20260101T090000Z
DTSTART:{start}
DTEND:{end}
SUMMARY:Cabinet
LOCATION:Council Chamber
END:VEVENT
END:VCALENDAR
"""


def post(c: TestClient, path: str, data: dict[str, str] | None = None, *,
         page: str = "/", files: dict[str, tuple[str, bytes, str]] | None = None
         ) -> httpx.Response:
    """Post a form the way the browser does: with the CSRF token from a page."""
    token = csrf_of(c.get(page).text)
    return c.post(path, data={"csrf_token": token, **(data or {})}, files=files)


def meeting_state(site: Site) -> list[str]:
    with site.seeded.db.session() as s:
        m = s.get(Meeting, site.ids["meeting"])
        assert m is not None
        return [a.action for a in m.clerk_actions]


# ---------------------------------------------------------------------------- doors


def test_pages_need_a_login(site: Site) -> None:
    for path in ("/", "/live/fragment", "/reports", "/audit", *IT_PAGES):
        r = site.client.get(path)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}", path


def test_it_pages_answer_an_html_403_to_other_roles(site: Site) -> None:
    for user in ("clerk", "viewer", "officer"):
        c = site.login(user)
        for path in IT_PAGES:
            r = c.get(path)
            assert r.status_code == 403, (user, path)
            assert r.headers["content-type"].startswith("text/html")
            assert "Not allowed" in r.text and "cannot open this page" in r.text
    assert site.login("clerk").get("/audit").status_code == 403
    assert site.login("officer").get("/audit").status_code == 200
    assert site.login("it").get("/reports").status_code == 403
    assert site.login("viewer").get("/reports").status_code == 403


def test_navigation_follows_the_role(site: Site) -> None:
    clerk = site.login("clerk").get("/").text
    assert 'href="/reports"' in clerk and 'href="/admin' not in clerk
    assert 'href="/audit"' not in clerk
    it = site.login("it").get("/").text
    assert 'href="/admin/allowlist"' in it and 'href="/audit"' in it
    assert 'href="/reports"' not in it
    officer = site.login("officer").get("/").text
    assert 'href="/audit"' in officer and 'href="/reports"' in officer


def test_a_stale_form_gets_an_html_page_not_json(site: Site) -> None:
    c = site.login("clerk")
    r = c.post(f"/meetings/{site.ids['meeting']}/start",
               data={"csrf_token": "stale", "confirmed": "1"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "This form has expired" in r.text
    assert meeting_state(site) == []


# ---------------------------------------------------------------------------- clerk


def test_clerk_actions_ask_first_without_javascript(site: Site) -> None:
    c = site.login("clerk")
    home = c.get("/").text
    assert "No meeting in session" in home
    assert f'action="/meetings/{site.ids["meeting"]}/start"' in home
    assert 'data-confirm="Start Council now?' in home

    r = post(c, f"/meetings/{site.ids['meeting']}/start", {"confirmed": "0"})
    assert r.status_code == 200 and "Start the meeting?" in r.text
    assert meeting_state(site) == []
    r = post(c, f"/meetings/{site.ids['meeting']}/start", {"confirmed": "1"})
    assert r.status_code == 303
    assert r.headers["location"] == "/?done=clerk-start"
    assert meeting_state(site) == ["start"]
    live = c.get("/?done=clerk-start").text
    assert "Meeting started." in live and "In session" in live
    for action in ("adjourn", "end"):
        assert f'/meetings/{site.ids["meeting"]}/{action}"' in live
    assert f'/meetings/{site.ids["meeting"]}/resume"' not in live

    # A refused action says why, on the confirmation page.
    r = post(c, f"/meetings/{site.ids['meeting']}/resume", {"confirmed": "1"})
    assert r.status_code == 422
    assert "cannot resume a meeting that is in-session" in r.text
    r = post(c, "/meetings/999/start", {"confirmed": "1"})
    assert r.status_code == 404 and "no meeting 999" in r.text


def test_only_the_clerk_runs_meetings(site: Site) -> None:
    for user in ("viewer", "it", "officer"):
        c = site.login(user)
        assert "/start\"" not in c.get("/").text
        r = post(c, f"/meetings/{site.ids['meeting']}/start", {"confirmed": "1"})
        assert r.status_code == 403
    assert meeting_state(site) == []


def test_live_view_members_feed_chart_and_fragment(site: Site) -> None:
    db, ids = site.seeded.db, site.ids
    c = site.login("clerk")
    post(c, f"/meetings/{ids['meeting']}/start", {"confirmed": "1"})
    attempt(db, member_id=ids["ada"], device_id=ids["ada_device"], mac=ADA_MAC,
            meeting_id=ids["meeting"])
    attempt(db, member_id=ids["ada"], device_id=ids["ada_device"], mac=ADA_MAC,
            meeting_id=None, platform="tiktok", domain="www.tiktok.com")  # not this meeting
    for path in ("/", "/live/fragment"):
        html = c.get(path).text
        row = html.split(f'id="member-{ids["ada"]}"')[1].split("</li>\n    <li")[0]
        assert "In the room, restricted" in row
        assert "Instagram</strong>: 0 likely opened, 1 background (1 lookup)" in row
        assert "TikTok" not in row
        assert (f"{ADA}&#39;s device (iPad) looked up Instagram — refused: 1 lookup of 1 name "
                "at once; background activity likely") in html
        # The chart's labels and numbers are text, never clipped by an SVG's box.
        assert re.search(r'<span class="bar-label">Instagram</span>', html)
        assert "Instagram: 1 episode, 1 lookup" in html
        grace = html.split(f'id="member-{ids["grace"]}"')[1].split("</li>")[0]
        assert "Not on the chamber Wi-Fi" in grace and "episode" not in grace
    fragment = c.get("/live/fragment").text
    assert "<html" not in fragment and 'id="fragment-meta"' in fragment
    assert f'data-meeting="{ids["meeting"]}"' in fragment and 'data-state="in-session"' in fragment
    assert c.get("/").headers["cache-control"] == "no-store"


def test_times_are_shown_in_london(site: Site) -> None:
    # 12:00 UTC on a summer day is 13:00 in London.
    with site.seeded.db.session() as s:
        m = s.get(Meeting, site.ids["meeting"])
        assert m is not None
        m.start = datetime(2099, 7, 1, 12, 0, tzinfo=UTC)
        m.end = datetime(2099, 7, 1, 15, 0, tzinfo=UTC)
    html = site.login("it").get("/admin/meetings").text
    assert "Wed 1 Jul 2099" in html and "13:00–16:00" in html


# ---------------------------------------------------------------------------- banners


def test_gate_and_mode_banners(site: Site) -> None:
    c = site.login("viewer")
    html = c.get("/").text
    assert "Gate not running" in html  # no heartbeat ever
    heartbeat(site.seeded.db, at=datetime.now(UTC) - timedelta(seconds=30))
    html = c.get("/live/fragment").text
    assert "Gate down" in html and "30 seconds ago" in html
    heartbeat(site.seeded.db, enforcing=False)
    html = c.get("/").text
    assert "Gate down" not in html and "Not enforcing" in html
    heartbeat(site.seeded.db, enforcing=True)
    html = c.get("/").text
    assert "banner-" not in html.split('id="site-status"')[1].split("site-line")[0]
    with site.seeded.db.session() as s:
        set_mode(s, mode=Mode.MONITOR_ONLY, settings=site.seeded.settings, actor="test")
    html = c.get("/").text
    assert "Monitor-only" in html and "nothing is blocked" in html
    assert "Inline gateway" in html


def test_resolver_only_topology_is_stated(site: Site) -> None:
    from dashboard.app import create_app

    base = site.seeded.settings
    settings = base.model_copy(update={"site": base.site.model_copy(
        update={"topology": "resolver-only"})})
    app = create_app(settings, site.seeded.db)
    c = Site(site.seeded, TestClient(app, follow_redirects=False)).login("viewer")
    html = c.get("/").text
    assert "Resolver only" in html and "DNS refusal and logging only" in html


def test_readiness_between_meetings(site: Site) -> None:
    heartbeat(site.seeded.db)
    c = site.login("it")
    html = c.get("/").text
    assert "Ready for the next meeting?" in html
    assert "2 member devices registered." in html
    assert "Running and reporting" in html
    post(c, "/admin/presets/os-connectivity", {"enabled": "0", "confirmed": "1"})
    html = c.get("/").text
    assert "Problem" in html and "Off: os-connectivity" in html


# ---------------------------------------------------------------------------- IT pages


def test_allowlist_rules_and_explain(site: Site) -> None:
    c = site.login("it")
    page = c.get("/admin/allowlist?check=papers.example.net").text
    assert "During a meeting, for a member's device: Refused" in page
    r = post(c, "/admin/allowlist/rules", {"domain": "papers.example.net",
                                           "category": "agenda", "note": "papers"},
             page="/admin/allowlist")
    assert r.status_code == 303
    page = c.get("/admin/allowlist?check=www.papers.example.net&done=rule-added").text
    assert "Rule added." in page
    assert "During a meeting, for a member's device: Allowed" in page
    r = post(c, "/admin/allowlist/rules", {"domain": "papers.example.net",
                                           "category": "agenda"}, page="/admin/allowlist")
    assert r.status_code == 409 and "already" in r.text
    assert 'value="papers.example.net"' in r.text
    page = c.get("/admin/allowlist?check=not a name").text
    assert 'role="alert"' in page
    with site.seeded.db.session() as s:
        rule_id = s.execute(select(RuleRow.id)).scalar_one()
    r = post(c, f"/admin/allowlist/rules/{rule_id}/delete", page="/admin/allowlist")
    assert r.status_code == 200 and "Delete this rule?" in r.text
    r = post(c, f"/admin/allowlist/rules/{rule_id}/delete", {"confirmed": "1"},
             page="/admin/allowlist")
    assert r.status_code == 303
    with site.seeded.db.session() as s:
        assert s.execute(select(func.count()).select_from(RuleRow)).scalar_one() == 0


def test_presets_say_what_switching_off_costs(site: Site) -> None:
    c = site.login("it")
    page = c.get("/admin/allowlist").text
    assert "Without os-connectivity, phones decide the chamber Wi-Fi has no internet" in page
    r = post(c, "/admin/presets/os-connectivity", {"enabled": "0"}, page="/admin/allowlist")
    assert r.status_code == 200 and "leave it for mobile data" in r.text
    with site.seeded.db.session() as s:
        assert s.execute(select(func.count()).select_from(PresetRow)).scalar_one() == 0
    post(c, "/admin/presets/os-connectivity", {"enabled": "0", "confirmed": "1"},
         page="/admin/allowlist")
    page = c.get("/admin/allowlist").text
    assert "is off.</strong>" in page
    r = post(c, "/admin/presets/os-connectivity", {"enabled": "1"}, page="/admin/allowlist")
    assert r.status_code == 303


def test_devices_claim_add_and_import(site: Site) -> None:
    c = site.login("it")
    page = c.get("/admin/devices").text
    unreg = page.split(f'id="unreg-{site.ids["stranger"]}"')[1].split("</tr>")[0]
    assert STRANGER_MAC in unreg and "Private (randomised) address" in unreg
    r = post(c, f"/admin/devices/{site.ids['stranger']}/claim",
             {"member_id": str(site.ids["grace"]), "label": "Spare"}, page="/admin/devices")
    assert r.status_code == 303
    r = post(c, "/admin/devices", {"mac": "3a:00:00:00:00:09", "member_id": "",
                                   "label": "Loan iPad"}, page="/admin/devices")
    assert r.headers["location"] == "/admin/devices?done=device-added-randomised"
    assert "private (randomised)" in c.get(r.headers["location"]).text
    r = post(c, "/admin/devices", {"mac": "zz"}, page="/admin/devices")
    assert r.status_code == 422 and 'value="zz"' in r.text

    before = _devices(site)
    bad = f"mac,member,label\n00:11:22:33:44:55,{ADA},x\nnot-a-mac,,y\n00:11:22:33:44:66,Nobody,z\n"
    r = post(c, "/admin/devices/import", page="/admin/devices",
             files={"csv_file": ("devices.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422
    assert "nothing imported" in r.text and "line 3" in r.text and "line 4" in r.text
    assert _devices(site) == before
    good = f"mac,member,label\n00:11:22:33:44:55,{ADA},Laptop\n"
    r = post(c, "/admin/devices/import", {"csv_text": good}, page="/admin/devices")
    assert r.status_code == 200 and "Imported 1 device" in r.text
    assert _devices(site) == before + 1


def _devices(site: Site) -> int:
    with site.seeded.db.session() as s:
        return int(s.execute(select(func.count()).select_from(Device)).scalar_one())


def _meetings(site: Site) -> int:
    with site.seeded.db.session() as s:
        return int(s.execute(select(func.count()).select_from(Meeting)).scalar_one())


def test_meetings_import_all_or_nothing(site: Site) -> None:
    c = site.login("it")
    before = _meetings(site)
    r = post(c, "/admin/meetings/import", page="/admin/meetings",
             files={"file": ("agenda.html", b"<html><body>Sign in</body></html>", "text/html")})
    assert r.status_code == 422 and "Nothing imported" in r.text
    assert "agenda.html" in r.text
    assert _meetings(site) == before
    r = post(c, "/admin/meetings/import", page="/admin/meetings",
             files={"file": ("", b"", "application/octet-stream")})
    assert r.status_code == 422 and "choose a file" in r.text
    ics = ICS.format(start="20990301T180000Z", end="20990301T200000Z")
    r = post(c, "/admin/meetings/import", page="/admin/meetings",
             files={"file": ("cal.ics", ics.encode(), "text/calendar")})
    assert r.status_code == 200 and "Imported from upload cal.ics" in r.text
    assert "1 created" in r.text
    assert _meetings(site) == before + 1
    assert "Cabinet" in c.get("/admin/meetings").text
    r = post(c, "/admin/meetings/sync", page="/admin/meetings")
    assert r.status_code == 422 and "no meetings source configured" in r.text
    r = post(c, "/admin/meetings", {"title": "Planning", "day": "2099-07-01", "start": "18:00",
                                    "end": "17:00"}, page="/admin/meetings")
    assert r.status_code == 422 and "must end after it starts" in r.text


def test_users_and_roles(site: Site) -> None:
    c = site.login("it")
    r = post(c, "/admin/users", {"username": "deputy", "password": PASSWORD,
                                 "role": "clerk"}, page="/admin/users")
    assert r.status_code == 303
    assert site.login("deputy").get("/").status_code == 200
    r = post(c, "/admin/users", {"username": "x", "password": "short", "role": "clerk"},
             page="/admin/users")
    assert r.status_code == 422 and "at least 10 characters" in r.text
    r = post(c, f"/admin/users/{site.ids['it']}", {"op": "role", "role": "viewer"},
             page="/admin/users")
    assert r.status_code == 409 and "last enabled IT admin" in r.text
    r = post(c, f"/admin/users/{site.ids['viewer']}", {"op": "disable"}, page="/admin/users")
    assert r.status_code == 200 and "Disable viewer?" in r.text
    post(c, f"/admin/users/{site.ids['viewer']}", {"op": "disable", "confirmed": "1"},
         page="/admin/users")
    audit = site.login("officer").get("/audit?entity=user").text
    assert "update" in audit
    assert '<strong>disabled:</strong> no <span aria-label="changed to">→</span> yes' in audit


def test_it_sees_a_lock_out_and_lifts_it(site: Site) -> None:
    """After repeated failed sign-ins the users page says the account is locked, for how
    long, and offers Unlock; after it the member of staff can sign in at once."""
    c = site.login("it")
    guess = TestClient(site.client.app, follow_redirects=False)
    token = csrf_of(guess.get("/login").text)
    for _ in range(6):
        guess.post("/login", data={"username": "clerk", "password": "not it at all",
                                   "csrf_token": token, "next": "/"})
    page = c.get("/admin/users").text
    assert re.search(r"locked for \d+ s more \(failed sign-ins\)", page)
    assert 'Unlock<span class="visually-hidden"> clerk</span>' in page
    assert 'Unlock<span class="visually-hidden"> it</span>' not in page
    post(c, f"/admin/users/{site.ids['clerk']}", {"op": "unlock"}, page="/admin/users")
    assert "locked for" not in c.get("/admin/users").text
    assert site.login("clerk").get("/").status_code == 200


def test_audit_filters_and_paging(site: Site) -> None:
    c = site.login("officer")
    html = c.get("/audit?actor=seed").text
    assert "9 entries" in html and "<td>clerk-start</td>" not in html
    site_clerk = site.login("clerk")
    post(site_clerk, f"/meetings/{site.ids['meeting']}/start", {"confirmed": "1"})
    html = c.get("/audit?action=clerk-start").text
    assert "1 entry" in html and "<td>clerk-start</td>" in html


def test_reports_for_the_clerk(site: Site) -> None:
    ids = site.ids
    c = site.login("clerk")
    post(c, f"/meetings/{ids['meeting']}/start", {"confirmed": "1"})
    attempt(site.seeded.db, member_id=ids["ada"], device_id=ids["ada_device"], mac=ADA_MAC,
            meeting_id=ids["meeting"])
    html = c.get("/reports").text
    assert f'href="/reports/{ids["meeting"]}"' in html
    html = c.get(f"/reports/{ids['meeting']}").text
    assert "Instagram</strong>: 0 likely opened, 1 background (1 lookup)" in html
    assert "Start" in html
    assert c.get("/reports/999").status_code == 404


# ---------------------------------------------------------------------------- markup


def test_large_text_is_a_cookie_applied_on_the_server(site: Site) -> None:
    c = site.login("viewer")
    assert '<body class="live-page">' in c.get("/").text
    r = post(c, "/prefs/text-size", {"size": "large", "next": "/reports"})
    assert r.status_code == 303 and r.headers["location"] == "/reports"
    assert '<body class="large live-page">' in c.get("/").text
    r = post(c, "/prefs/text-size", {"size": "normal", "next": "//evil.example"})
    assert r.headers["location"] == "/"
    assert '<body class="live-page">' in c.get("/").text


def test_markup_fits_the_csp_and_uses_no_cdn(site: Site) -> None:
    ids = site.ids
    clerk = site.login("clerk")
    post(clerk, f"/meetings/{ids['meeting']}/start", {"confirmed": "1"})
    attempt(site.seeded.db, member_id=ids["ada"], device_id=ids["ada_device"], mac=ADA_MAC,
            meeting_id=ids["meeting"])
    it = site.login("it")
    pages = [clerk.get(p).text for p in ("/", "/live/fragment", f"/reports/{ids['meeting']}")]
    pages += [it.get(p).text for p in (*IT_PAGES, "/audit",
                                       "/admin/allowlist?check=www.instagram.com")]
    pages.append(site.client.get("/login").text)
    for html in pages:
        assert not re.search(r"\sstyle=", html), "inline style attributes break the CSP"
        assert "<style" not in html
        assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", html), "inline script"
        assert not re.search(r"\son[a-z]+=", html), "inline event handler"
        assert not re.search(r'(src|href)="(https?:)?//', html), "asset from elsewhere"
    for asset in ("/static/app.css", "/static/live.js", "/static/confirm.js"):
        assert site.client.get(asset).status_code == 200


def test_browsers_get_html_error_pages_and_api_clients_json(site: Site) -> None:
    c = site.login("clerk")
    html = {"accept": "text/html,application/xhtml+xml"}
    r = c.get("/no/such/page", headers=html)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "There is no such page." in r.text
    token = csrf_of(c.get("/").text)
    r = c.post(f"/meetings/{site.ids['meeting']}/extend",
               data={"csrf_token": token, "minutes": "lots"}, headers=html)
    assert r.status_code == 422 and "The form was not filled in as expected" in r.text
    r = c.get("/api/v1/no-such-thing", headers=html)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert c.get("/no/such/page").json()["error"]["code"] == "not_found"


def test_audit_log_reads_as_words_in_uk_time(site: Site) -> None:
    """Before/after as "field: old → new" with UK times, never raw JSON (issue 21)."""
    c = site.login("clerk")
    post(c, f"/meetings/{site.ids['meeting']}/start", {"confirmed": "1"})
    html = site.login("officer").get("/audit?action=clerk-start").text
    row = html.split("<tbody>")[1].split("</tr>")[0]
    assert "<strong>state:</strong> scheduled <span class=\"muted\">(before)</span>" in row
    assert "<strong>action:</strong> start" in row and "(UK time)" in row
    assert "{&#34;" not in row and '{"' not in row
