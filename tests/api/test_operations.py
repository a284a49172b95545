"""Meetings and clerk actions, site mode, settings, users and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from api.auth.roles import Role
from monitor.store.models import AuditRow
from monitor.store.revision import current_revision
from monitor.store.types import utcnow
from tests.api.conftest import Env, assert_error, username


def new_meeting(env: Env, start: datetime, hours: int = 3, title: str = "Full Council") -> int:
    r = env.client.post("/api/v1/meetings", headers=env.auth(Role.IT_ADMIN), json={
        "title": title, "start": start.isoformat(),
        "end": (start + timedelta(hours=hours)).isoformat(), "room": "chamber"})
    assert r.status_code == 201, r.text
    meeting_id: int = r.json()["id"]
    return meeting_id


# -- meetings ------------------------------------------------------------------------------
def test_manual_meeting_and_london_times(env: Env) -> None:
    r = env.client.post("/api/v1/meetings", headers=env.auth(Role.IT_ADMIN), json={
        "title": "Planning Committee", "start": "2026-06-10T18:30", "end": "2026-06-10T21:00"})
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["start"] == "2026-06-10T17:30:00+00:00"  # BST: London is UTC+1 in June
    assert m["source"] == "manual" and m["state"] in {"scheduled", "ended"}
    page = env.client.get("/api/v1/meetings", headers=env.auth(Role.VIEWER), params={
        "start": "2026-06-10T00:00", "end": "2026-06-11T00:00"}).json()
    assert [x["id"] for x in page["items"]] == [m["id"]]
    none = env.client.get("/api/v1/meetings", headers=env.auth(Role.VIEWER),
                          params={"start": "2026-07-01T00:00Z"}).json()
    assert none["total"] == 0
    assert env.client.get(f"/api/v1/meetings/{m['id']}",
                          headers=env.auth(Role.CLERK)).json()["title"] == "Planning Committee"


def test_meeting_validation_and_permissions(env: Env) -> None:
    admin = env.auth(Role.IT_ADMIN)
    backwards = {"title": "x", "start": "2026-06-10T18:30", "end": "2026-06-10T17:00"}
    assert "end after" in str(assert_error(env.client.post("/api/v1/meetings", headers=admin,
                                                           json=backwards), 422)["message"])
    assert_error(env.client.post("/api/v1/meetings", headers=admin, json={
        "title": "x", "start": "tomorrow evening", "end": "2026-06-10T17:00"}), 422)
    assert_error(env.client.post("/api/v1/meetings", headers=admin, json={
        "title": "x", "start": "0001-01-01T00:00", "end": "0001-01-01T01:00"}), 422)
    assert_error(env.client.get("/api/v1/meetings?start=notatime", headers=admin), 422)
    assert_error(env.client.post("/api/v1/meetings", headers=env.auth(Role.CLERK), json={
        "title": "x", "start": "2026-06-10T18:30", "end": "2026-06-10T21:00"}), 403)
    assert_error(env.client.get("/api/v1/meetings/99", headers=admin), 404)


def test_clerk_runs_the_meeting(env: Env) -> None:
    mid = new_meeting(env, utcnow() + timedelta(days=1))
    clerk = env.auth(Role.CLERK)
    with env.db.session() as s:
        rev = current_revision(s)
    started = env.client.post(f"/api/v1/meetings/{mid}/start", headers=clerk)
    assert started.status_code == 200, started.text
    assert started.json()["state"] == "in-session"
    assert started.json()["clerk_actions"][0]["by"] == username(Role.CLERK)
    with env.db.session() as s:
        assert current_revision(s) > rev
    assert env.client.post(f"/api/v1/meetings/{mid}/adjourn",
                           headers=clerk).json()["state"] == "adjourned"
    bad = env.client.post(f"/api/v1/meetings/{mid}/adjourn", headers=clerk)
    assert "cannot adjourn" in str(assert_error(bad, 422)["message"])
    assert env.client.post(f"/api/v1/meetings/{mid}/resume",
                           headers=clerk).json()["state"] == "in-session"
    assert env.client.post(f"/api/v1/meetings/{mid}/end", headers=clerk).json()["state"] == "ended"
    assert_error(env.client.post(f"/api/v1/meetings/{mid}/dance", headers=clerk), 422)
    for role in (Role.IT_ADMIN, Role.VIEWER, Role.MONITORING_OFFICER):
        assert_error(env.client.post(f"/api/v1/meetings/{mid}/start", headers=env.auth(role)),
                     403)
    with env.db.session() as s:
        actions = list(s.execute(select(AuditRow.action).where(AuditRow.entity == "meeting")
                                 .order_by(AuditRow.id)).scalars())
    assert actions == ["create", "clerk-start", "clerk-adjourn", "clerk-resume", "clerk-end"]


def test_clerk_action_through_a_cookie_session_needs_csrf(env: Env) -> None:
    mid = new_meeting(env, utcnow() + timedelta(days=1))
    csrf = env.login(Role.CLERK)
    assert_error(env.client.post(f"/api/v1/meetings/{mid}/start"), 403)
    ok = env.client.post(f"/api/v1/meetings/{mid}/start", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["state"] == "in-session"


# -- site mode and settings ----------------------------------------------------------------
def test_site_mode(env: Env) -> None:
    view = env.client.get("/api/v1/site/mode", headers=env.auth(Role.VIEWER)).json()
    assert (view["mode"], view["source"], view["topology"]) == ("enforce", "config", "inline")
    r = env.client.put("/api/v1/site/mode", headers=env.auth(Role.IT_ADMIN),
                       json={"mode": "monitor-only"})
    assert r.status_code == 200
    assert (r.json()["mode"], r.json()["source"]) == ("monitor-only", "database")
    assert r.json()["revision"] > view["revision"]
    verdict = env.client.get("/api/v1/explain?domain=example.com",
                             headers=env.auth(Role.IT_ADMIN)).json()
    assert verdict["mode"] == "monitor-only"
    with env.db.session() as s:
        row = s.execute(select(AuditRow).where(AuditRow.action == "set-mode")).scalar_one()
    assert (row.before, row.after) == ({"mode": "enforce"}, {"mode": "monitor-only"})
    assert_error(env.client.put("/api/v1/site/mode", headers=env.auth(Role.IT_ADMIN),
                                json={"mode": "off"}), 422)
    assert_error(env.client.put("/api/v1/site/mode", headers=env.auth(Role.CLERK),
                                json={"mode": "enforce"}), 403)


def test_settings_view_is_read_only_and_secret_free(env: Env) -> None:
    from api.site.service import redact_url, settings_view

    r = env.client.get("/api/v1/settings", headers=env.auth(Role.IT_ADMIN))
    assert r.status_code == 200
    body = r.json()
    assert body["settings"]["policy"]["grace_minutes"] == 5
    assert body["database_url"].startswith("sqlite:///")
    assert_error(env.client.put("/api/v1/settings", headers=env.auth(Role.IT_ADMIN), json={}),
                 405)
    assert_error(env.client.get("/api/v1/settings", headers=env.auth(Role.MONITORING_OFFICER)),
                 403)
    url = "postgresql://cg:s3cret-pw@db.example/chamberguard"
    assert "s3cret-pw" not in redact_url(url)
    secret = env.settings.model_copy(update={
        "database": env.settings.database.model_copy(update={"url": url})})
    assert "s3cret-pw" not in str(settings_view(secret))


# -- users ---------------------------------------------------------------------------------
def test_user_management(env: Env) -> None:
    admin = env.auth(Role.IT_ADMIN)
    r = env.client.post("/api/v1/users", headers=admin, json={
        "username": "dora", "password": "a long enough password", "role": "clerk"})
    assert r.status_code == 201
    u = r.json()
    assert "password" not in u and "password_hash" not in u
    assert env.client.post("/api/v1/session", json={
        "username": "dora", "password": "a long enough password"}).status_code == 200
    r = env.client.patch(f"/api/v1/users/{u['id']}", headers=admin,
                         json={"role": "viewer", "password": "another long password"})
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    # A new password ended the old session.
    assert_error(env.client.get("/api/v1/session/me"), 401)
    assert env.client.patch(f"/api/v1/users/{u['id']}", headers=admin,
                            json={"disabled": True}).json()["disabled"] is True
    assert_error(env.client.post("/api/v1/session", json={
        "username": "dora", "password": "another long password"}), 401)
    assert env.client.get("/api/v1/users", headers=admin).json()["total"] == 5
    with env.db.session() as s:
        rows = list(s.execute(select(AuditRow).where(AuditRow.entity == "user",
                                                     AuditRow.entity_id == str(u["id"]))
                              .order_by(AuditRow.id)).scalars())
    assert [a.action for a in rows] == ["create", "update", "update"]
    assert rows[1].after == {"role": "viewer", "disabled": False, "locked_until": None,
                             "password": "changed"}


def test_user_validation_and_the_last_admin(env: Env) -> None:
    admin = env.auth(Role.IT_ADMIN)
    assert_error(env.client.post("/api/v1/users", headers=admin, json={
        "username": "eve", "password": "short", "role": "clerk"}), 422)
    assert_error(env.client.post("/api/v1/users", headers=admin, json={
        "username": "eve", "password": "a long enough password", "role": "root"}), 422)
    assert_error(env.client.post("/api/v1/users", headers=admin, json={
        "username": username(Role.CLERK), "password": "a long enough password",
        "role": "clerk"}), 409)
    me = env.user_ids[Role.IT_ADMIN]
    assert_error(env.client.patch(f"/api/v1/users/{me}", headers=admin,
                                  json={"role": "viewer"}), 409, "conflict")
    assert_error(env.client.patch(f"/api/v1/users/{me}", headers=admin,
                                  json={"disabled": True}), 409)
    for role in (Role.CLERK, Role.MONITORING_OFFICER, Role.VIEWER):
        assert_error(env.client.get("/api/v1/users", headers=env.auth(role)), 403)


def test_admin_can_log_a_user_out_everywhere(env: Env) -> None:
    viewer = env.auth(Role.VIEWER)
    r = env.client.post(f"/api/v1/users/{env.user_ids[Role.VIEWER]}/logout-everywhere",
                        headers=env.auth(Role.IT_ADMIN))
    assert r.status_code == 204
    assert_error(env.client.get("/api/v1/session/me", headers=viewer), 401)


# -- audit ---------------------------------------------------------------------------------
def test_audit_log_for_the_monitoring_officer(env: Env) -> None:
    admin = env.auth(Role.IT_ADMIN)
    env.client.post("/api/v1/members", headers=admin, json={"name": "Cllr Ada Lovelace"})
    env.client.put("/api/v1/site/mode", headers=admin, json={"mode": "monitor-only"})
    officer = env.auth(Role.MONITORING_OFFICER)
    page = env.client.get("/api/v1/audit", headers=officer).json()
    actions = [a["action"] for a in page["items"]]
    assert actions.index("set-mode") < actions.index("create")  # newest first
    member = next(a for a in page["items"] if a["entity"] == "member")
    assert member["actor"] == username(Role.IT_ADMIN) and member["after"]["name"]
    assert abs(datetime.fromisoformat(member["ts"]) - datetime.now(UTC)) < timedelta(minutes=5)
    only = env.client.get("/api/v1/audit?entity=site&limit=1", headers=officer).json()
    assert only["total"] == 1 and only["items"][0]["after"] == {"mode": "monitor-only"}
    since = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert env.client.get("/api/v1/audit", headers=officer,
                          params={"since": since}).json()["total"] == 0
    assert env.client.get("/api/v1/audit", headers=admin).status_code == 200
    for role in (Role.CLERK, Role.VIEWER):
        assert_error(env.client.get("/api/v1/audit", headers=env.auth(role)), 403)
    assert_error(env.client.delete("/api/v1/audit", headers=officer), 405)
    assert_error(env.client.get("/api/v1/audit?limit=5000", headers=officer), 422)


def test_audit_times_are_uk_time_with_the_offset(env: Env) -> None:
    """Stored in UTC, given in UK time: a summer change reads +01:00, a winter one +00:00."""
    with env.db.session() as s:
        for ts in (datetime(2026, 7, 1, 12, 0, tzinfo=UTC), datetime(2026, 1, 15, 9, 30,
                                                                      tzinfo=UTC)):
            s.add(AuditRow(ts=ts, actor="it-admin-user", action="update", entity="uk-time"))
    officer = env.auth(Role.MONITORING_OFFICER)
    items = env.client.get("/api/v1/audit?entity=uk-time", headers=officer).json()["items"]
    assert [a["ts"] for a in items] == ["2026-01-15T09:30:00+00:00",  # newest entry first
                                        "2026-07-01T13:00:00+01:00"]
