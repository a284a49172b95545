"""The same reports from the API (signed downloads, clerk and monitoring officer only) and
the report pages (login redirect, external stylesheet, no inline styles); subject access
for the monitoring officer alone."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.auth.roles import Role
from api.reports import signing
from api.users.service import create_token, create_user
from dashboard.app import create_app
from monitor.store.models import AuditRow
from tests.reports.seed import ADA, GRACE, Golden, seed_golden

PASSWORD = "correct horse battery"


@dataclass
class Api:
    g: Golden
    client: TestClient
    tokens: dict[Role, str]

    def get(self, role: Role, url: str) -> httpx.Response:
        return self.client.get(url, headers={"Authorization": f"Bearer {self.tokens[role]}"})


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    g = seed_golden(tmp_path)
    tokens = {}
    with g.db.session() as s:
        for role in Role:
            create_user(s, username=role.value, password=PASSWORD, role=role, actor="t")
            tokens[role] = create_token(s, username=role.value, name="t", actor="t")
    client = TestClient(create_app(g.settings, g.db), follow_redirects=False)
    yield Api(g, client, tokens)
    client.close()
    g.db.dispose()


def test_meeting_report_downloads_for_clerk_and_officer(api: Api) -> None:
    mid = api.g.ids["meeting"]
    for role in (Role.CLERK, Role.MONITORING_OFFICER):
        r = api.get(role, f"/api/v1/reports/meetings/{mid}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert "attachment" in r.headers["content-disposition"]
        body = r.json()
        assert {m["name"]: m["episodes"] for m in body["report"]["members"]} == {ADA: 4,
                                                                                GRACE: 2}
        assert body["report"]["generated_by"] == role.value
        assert signing.verify(r.content, None).ok
    for role in (Role.IT_ADMIN, Role.VIEWER):
        assert api.get(role, f"/api/v1/reports/meetings/{mid}").status_code == 403
    assert api.client.get(f"/api/v1/reports/meetings/{mid}").status_code == 401
    assert api.get(Role.CLERK, "/api/v1/reports/meetings/9999").status_code == 404
    assert api.get(Role.CLERK, f"/api/v1/reports/meetings/{mid}?format=xml").status_code == 422


def test_every_format_from_the_api(api: Api) -> None:
    mid = api.g.ids["meeting"]
    for drawn in ("pdf", "html"):  # the dashboard draws these, not the API
        assert api.get(Role.CLERK, f"/api/v1/reports/meetings/{mid}?format={drawn}"
                       ).status_code == 422
    clerk = _login(api, Role.CLERK)
    r = clerk.get(f"/reports/files/meetings/{mid}?format=pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    r = clerk.get(f"/reports/files/meetings/{mid}?format=html")
    csp = r.headers["content-security-policy"]
    assert "style-src 'sha256-" in csp and "script-src" not in csp and "default-src 'none'" \
        in csp
    r = api.get(Role.CLERK, f"/api/v1/reports/meetings/{mid}?format=csv")
    body, _, _ = signing.split(r.content)
    rows = [row for row in csv.reader(io.StringIO(body.decode())) if row[0] == "member"]
    assert {row[1]: int(row[5]) for row in rows} == {ADA: 7, GRACE: 5}
    # verify through the API: intact, then one figure changed
    ok = api.client.post("/api/v1/reports/verify", content=r.content, headers={
        "Authorization": f"Bearer {api.tokens[Role.MONITORING_OFFICER]}"})
    assert ok.status_code == 200 and ok.json()["ok"] is True
    bad = api.client.post("/api/v1/reports/verify", content=r.content.replace(b",4,7,", b",4,9,"),
                          headers={"Authorization": f"Bearer {api.tokens[Role.CLERK]}"})
    assert bad.json()["ok"] is False and bad.json()["reason"].startswith("altered content")


def test_member_and_site_reports(api: Api) -> None:
    grace = api.g.ids["grace"]
    url = f"/api/v1/reports/members/{grace}?from=2026-06-01&to=2026-06-30"
    assert api.get(Role.CLERK, url).status_code == 403  # a member's record: officer only
    r = api.get(Role.MONITORING_OFFICER, url)
    assert r.status_code == 200, r.text
    rep = r.json()["report"]
    assert [(m["committee"], m["episodes"], m["lookups"], m["bypass_attempts"])
            for m in rep["meetings"]] == [("Planning Committee", 2, 5, 2), ("Council", 1, 1, 0)]
    assert (rep["totals"]["episodes"], rep["totals"]["lookups"]) == (3, 6)
    assert rep["totals"]["meetings_with_contacts"] == 2
    # A narrower range leaves the second meeting out (London days, inclusive).
    r = api.get(Role.MONITORING_OFFICER,
                f"/api/v1/reports/members/{grace}?from=2026-06-10&to=2026-06-10")
    assert len(r.json()["report"]["meetings"]) == 1
    r = api.get(Role.CLERK, "/api/v1/reports/site?from=2026-06-01&to=2026-06-30&format=json")
    site = r.json()["report"]
    assert [(m["episodes"], m["lookups"], m["bypass_attempts"], m["members_with_contacts"])
            for m in site["meetings"]] == [(6, 12, 3, 2), (1, 1, 0, 1)]
    assert site["meetings"][0]["uptime_percent"] == 95.8
    assert {m["name"]: (m["meetings"], m["episodes"]) for m in site["members"]} == {
        ADA: (1, 4), GRACE: (2, 3)}
    assert api.get(Role.CLERK, "/api/v1/reports/site?from=nonsense").status_code == 422
    assert api.get(Role.CLERK, "/api/v1/reports/site?from=2026-06-30&to=2026-06-01"
                   ).status_code == 422


def test_chain_endpoint(api: Api) -> None:
    r = api.get(Role.IT_ADMIN, "/api/v1/reports/chain")
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["checked"] == 20
    assert api.get(Role.CLERK, "/api/v1/reports/chain").status_code == 403


def test_subject_access_export(api: Api) -> None:
    ada = api.g.ids["ada"]
    assert api.get(Role.CLERK, f"/api/v1/reports/subject-access/{ada}").status_code == 403
    r = api.get(Role.MONITORING_OFFICER, f"/api/v1/reports/subject-access/{ada}")
    assert r.status_code == 200
    doc = r.json()
    assert doc["member"]["name"] == ADA
    assert {d["label"] for d in doc["devices"]} == {"iPad", "iPhone"}
    assert len(doc["events"]) == 8  # 7 lookups + 1 bypass attempt
    assert len(doc["episodes"]) == 4
    assert all(e["hash"] for e in doc["events"])
    assert any(a["action"] == "register" and a["entity"] == "device" for a in doc["audit"])
    assert any(a["action"] == "create" and a["entity"] == "member" for a in doc["audit"])
    assert "Grace" not in json.dumps(doc)  # nobody else's data
    r = api.get(Role.MONITORING_OFFICER, f"/api/v1/reports/subject-access/{ada}?format=csv")
    sections = [row[0] for row in csv.reader(io.StringIO(r.text))][1:]
    assert sections.count("event") == 8 and sections.count("device") == 2
    assert sections.count("episode") == 4 and sections[0] == "member"
    with api.g.db.session() as s:
        rows = s.execute(select(AuditRow).where(
            AuditRow.action == "subject-access-export")).scalars().all()
        assert [(a.actor, a.entity_id) for a in rows] == [("monitoring_officer", str(ada))] * 2


def _login(api: Api, role: Role) -> TestClient:
    c = TestClient(api.client.app, follow_redirects=False)
    r = c.post("/api/v1/session", json={"username": role.value, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c


def test_pages(api: Api) -> None:
    mid = api.g.ids["meeting"]
    assert api.client.get(f"/reports/meetings/{mid}").status_code == 303  # to /login
    clerk = _login(api, Role.CLERK)
    r = clerk.get(f"/reports/meetings/{mid}")
    assert r.status_code == 200, r.text
    html = r.text
    assert '<link rel="stylesheet" href="/reports/static/report.css">' in html
    assert "<style" not in html and not re.search(r"<[^>]+\sstyle=", html)
    assert ADA in html and GRACE in html and "Method and limits" in html
    assert f"/reports/files/meetings/{mid}?format=pdf" in html
    assert "content-security-policy" in r.headers and "style-src 'self'" in \
        r.headers["content-security-policy"]
    css = clerk.get("/reports/static/report.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert clerk.get("/reports/meetings/9999").status_code == 404
    assert clerk.get("/reports/site?from=2026-06-01&to=2026-06-30").status_code == 200
    assert clerk.get("/reports/members").status_code == 403  # officer only
    # the dashboard's own /reports/{id} still works beside ours
    assert clerk.get(f"/reports/{mid}").status_code == 200
    officer = _login(api, Role.MONITORING_OFFICER)
    r = officer.get(f"/reports/members?member_id={api.g.ids['grace']}&from=2026-06-01"
                    "&to=2026-06-30")
    assert r.status_code == 200 and "By meeting" in r.text and GRACE in r.text
    assert "from=2026-06-01&amp;to=2026-06-30" in r.text
    viewer = _login(api, Role.VIEWER)
    assert viewer.get(f"/reports/meetings/{mid}").status_code == 403


def test_fault_6_it_cannot_act_as_the_officer_and_the_register_names_the_real_actor(
        api: Api) -> None:
    """Issue 20, fault 6: IT minted a token for the officer, read a subject-access export and
    a member report, and the register named the officer. Now IT is refused a token for
    anyone else, refused both reads, and what the officer does is registered as hers."""
    from monitor.store.models import IssuedReport, User

    ada = api.g.ids["ada"]
    with api.g.db.session() as s:
        officer = s.execute(select(User).where(User.username == Role.MONITORING_OFFICER.value)
                            ).scalar_one().id
    r = api.client.post("/api/v1/tokens", json={"name": "x", "user_id": officer},
                        headers={"Authorization": f"Bearer {api.tokens[Role.IT_ADMIN]}"})
    assert r.status_code == 403
    urls = (f"/api/v1/reports/subject-access/{ada}",
            f"/api/v1/reports/members/{ada}?from=2026-06-01&to=2026-06-30")
    for url in urls:
        assert api.get(Role.IT_ADMIN, url).status_code == 403
        assert api.get(Role.MONITORING_OFFICER, url).status_code == 200
    with api.g.db.session() as s:
        register = [r.generated_by for r in s.execute(select(IssuedReport)).scalars()]
        exports = [a.actor for a in s.execute(select(AuditRow).where(
            AuditRow.action == "subject-access-export")).scalars()]
    assert register == ["monitoring_officer"] and exports == ["monitoring_officer"]
