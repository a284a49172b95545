"""Every report and its downloads reachable from the menus; the verify-by-upload page; a
rule that would allow a platform asks first (naming its effect) and is flagged; the
conditions at the start of a meeting are recorded and reach the report."""

from __future__ import annotations

import csv
import io
import json
import re

from sqlalchemy import select, text

from monitor.store.models import AuditRow, RuleRow
from tests.dashboard.conftest import Site
from tests.dashboard.seed import ADA_MAC, attempt, heartbeat
from tests.dashboard.test_pages import post


def _links(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', html))


def test_every_report_and_download_is_reachable_from_the_menus(site: Site) -> None:
    ids = site.ids
    post(site.login("clerk"), f"/meetings/{ids['meeting']}/start", {"confirmed": "1"})
    officer = site.login("officer")
    home = _links(officer.get("/").text)
    assert {"/reports", "/reports/verify"} <= home
    reports = officer.get("/reports").text
    links = _links(reports.replace("&amp;", "&"))
    m = ids["meeting"]
    assert {"/reports/site", "/reports/members", "/reports/verify", f"/reports/meetings/{m}",
            f"/reports/files/meetings/{m}?format=pdf",
            f"/api/v1/reports/meetings/{m}?format=lookups"} <= links
    page = officer.get(f"/reports/meetings/{m}").text
    for fmt in ("pdf", "html"):
        assert f"/reports/files/meetings/{m}?format={fmt}" in page
    for fmt in ("csv", "json", "lookups"):
        assert f"/api/v1/reports/meetings/{m}?format={fmt}" in page
    for path in sorted(links):
        if path.startswith(("/reports", "/api/v1/reports")):
            assert officer.get(path).status_code == 200, path
    clerk = _links(site.login("clerk").get("/reports").text)
    assert "/reports/members" not in clerk and "/reports/site" in clerk  # officer's alone


def test_verify_by_upload(site: Site) -> None:
    ids = site.ids
    officer = site.login("officer")
    attempt(site.seeded.db, member_id=ids["ada"], device_id=ids["ada_device"], mac=ADA_MAC,
            meeting_id=ids["meeting"])
    data = officer.get(f"/api/v1/reports/meetings/{ids['meeting']}?format=lookups").content
    rows = list(csv.DictReader(io.StringIO(data.decode().rsplit("# chamberguard-signature",
                                                                 1)[0])))
    assert [(r["name"], r["verdict"], r["episode"]) for r in rows] == [
        ("www.instagram.com", "refused", "1")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d",
                        rows[0]["time (Europe/London)"])
    r = post(officer, "/reports/verify", page="/reports/verify",
             files={"file": ("lookups.csv", data, "text/csv")})
    assert r.status_code == 200 and "Intact" in r.text and "register: issued" in r.text
    r = post(officer, "/reports/verify", page="/reports/verify",
             files={"file": ("lookups.csv", data.replace(b"refused", b"allowed", 1),
                             "text/csv")})
    assert r.status_code == 422 and "Failed" in r.text and "altered content" in r.text
    with site.seeded.db.engine.begin() as c:  # the file is intact, the events are not
        c.execute(text("UPDATE events SET domain = 'www.example.org'"))
    r = post(officer, "/reports/verify", page="/reports/verify",
             files={"file": ("lookups.csv", data, "text/csv")})
    assert r.status_code == 422 and "ALTERED" in r.text
    assert site.login("it").get("/reports/verify").status_code == 403


def test_a_rule_allowing_a_platform_asks_first_and_is_flagged(site: Site) -> None:
    it = site.login("it")
    form = {"domain": "instagram.com", "category": "agenda", "note": "webcast on Instagram"}
    r = post(it, "/admin/allowlist/rules", form, page="/admin/allowlist")
    assert r.status_code == 200 and "This rule allows instagram.com" in r.text
    assert "Instagram" in r.text and "nothing of it is refused or recorded" in r.text
    with site.seeded.db.session() as s:
        assert s.execute(select(RuleRow)).first() is None  # not yet
    effect = re.search(r'name="confirm_effect" value="([^"]+)"', r.text)
    assert effect
    r = post(it, "/admin/allowlist/rules",
             {**form, "confirm_effect": effect.group(1).replace("&#39;", "'")},
             page="/admin/allowlist")
    assert r.status_code == 303
    page = it.get("/admin/allowlist").text
    assert 'id="flagged-rules"' in page and "allows a platform or public suffix" in page
    live = site.login("clerk").get("/").text.split('id="site-status"')[1].split("site-line")[0]
    assert "Rule for instagram.com" in live  # the clerk's live page says so too
    with site.seeded.db.session() as s:
        row = s.execute(select(AuditRow).where(AuditRow.entity == "rule")).scalar_one()
        assert row.after and "Instagram" in row.after["effect"]


def test_api_rule_for_a_public_suffix_needs_the_effect(site: Site) -> None:
    from api.auth.roles import Role
    from tests.events.webapp import token_for

    tok = token_for(site.seeded.db, "it-api", Role.IT_ADMIN)
    h = {"Authorization": f"Bearer {tok}"}
    r = site.client.post("/api/v1/rules", headers=h,
                         json={"domain": "gov.uk", "category": "agenda"})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "confirmation_required" and "public suffix gov.uk" in \
        err["details"]["effect"]
    r = site.client.post("/api/v1/rules", headers=h,
                         json={"domain": "gov.uk", "category": "agenda",
                               "confirm_effect": err["details"]["effect"]})
    assert r.status_code == 201
    ok = site.client.post("/api/v1/rules", headers=h,
                          json={"domain": "democracy.example.gov.uk", "category": "agenda"})
    assert ok.status_code == 201  # an ordinary site: no question asked


def test_conditions_are_recorded_when_the_meeting_starts(site: Site) -> None:
    ids = site.ids
    heartbeat(site.seeded.db, enforcing=True)
    clerk = site.login("clerk")
    post(clerk, f"/meetings/{ids['meeting']}/start", {"confirmed": "1"})
    with site.seeded.db.session() as s:
        row = s.execute(select(AuditRow).where(AuditRow.action == "conditions")).scalar_one()
        assert row.after is not None
        assert {k: row.after[k] for k in ("topology", "mode", "gate", "enforcing")} == {
            "topology": "inline", "mode": "enforce", "gate": "up", "enforcing": True}
        assert row.after["reason"] == "meeting start" and row.entity_id == str(ids["meeting"])
    doc = json.loads(site.login("officer").get(
        f"/api/v1/reports/meetings/{ids['meeting']}?format=json").content.rsplit(
        b',\n "signature"', 1)[0][len(b'{"report": '):])
    cond = doc["conditions"]
    assert cond["recorded_at_start"]["gate"] == "up"
    assert cond["topology_note"].startswith("recorded at ")
