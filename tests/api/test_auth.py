"""Sessions, CSRF, lock-out, per-address throttling and API tokens."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.auth.roles import Role
from monitor.store.models import AuditRow, SessionRow
from tests.api.conftest import PASSWORD, Env, assert_error, build_env, username


def test_json_login_sets_a_strict_httponly_cookie_and_returns_csrf(env: Env) -> None:
    r = env.client.post("/api/v1/session",
                        json={"username": username(Role.CLERK), "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["role"] == "clerk" and body["via"] == "browser" and body["csrf_token"]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("cg_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # settings.web.secure_cookies is off by default
    me = env.client.get("/api/v1/session/me")
    assert me.json()["username"] == username(Role.CLERK)
    assert me.json()["csrf_token"] == body["csrf_token"]


def test_cookie_is_secure_when_configured(tmp_path: Path, template_db: Path) -> None:
    env = build_env(tmp_path, template_db, "[web]\nsecure_cookies = true\n")
    r = env.client.post("/api/v1/session",
                        json={"username": username(Role.VIEWER), "password": PASSWORD})
    assert "Secure" in r.headers["set-cookie"]


def test_only_the_session_secret_hash_is_stored(env: Env) -> None:
    env.login(Role.VIEWER)
    cookie = env.client.cookies["cg_session"]
    with env.db.session() as s:
        hashes = list(s.execute(select(SessionRow.token_hash)).scalars())
    assert cookie not in hashes and all(len(h) == 64 for h in hashes)


def test_wrong_password_is_401_in_the_common_shape(env: Env) -> None:
    r = env.client.post("/api/v1/session",
                        json={"username": username(Role.CLERK), "password": "wrong password"})
    err = assert_error(r, 401, "unauthenticated")
    assert err["message"] == "wrong username or password"
    assert "cg_session" not in r.headers.get("set-cookie", "")


def test_csrf_is_required_for_cookie_changes(env: Env) -> None:
    csrf = env.login(Role.IT_ADMIN)
    body = {"name": "Cllr Ada Lovelace"}
    assert_error(env.client.post("/api/v1/members", json=body), 403, "forbidden")
    assert_error(env.client.post("/api/v1/members", json=body,
                                 headers={"X-CSRF-Token": "not-the-token"}), 403)
    ok = env.client.post("/api/v1/members", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text
    # Reads need no token; bearer tokens need none either (browsers never send them alone).
    assert env.client.get("/api/v1/members").status_code == 200
    bearer = TestClient(env.app)
    r = bearer.post("/api/v1/members", json={"name": "Cllr Grace Hopper"},
                    headers=env.auth(Role.IT_ADMIN))
    assert r.status_code == 201


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(env: Env) -> None:
    who = {"username": username(Role.CLERK)}
    for _ in range(5):
        assert_error(env.client.post("/api/v1/session", json={**who, "password": "nope nope"}),
                     401)
    r = env.client.post("/api/v1/session", json={**who, "password": PASSWORD})
    err = assert_error(r, 401)
    assert "locked" in str(err["message"])
    with env.db.session() as s:
        rows = s.execute(select(AuditRow).where(AuditRow.action == "lockout")).scalars().all()
    assert len(rows) == 1
    assert rows[0].entity == "user" and rows[0].entity_id == str(env.user_ids[Role.CLERK])
    assert rows[0].actor == "system" and rows[0].after and rows[0].after["locked_until"]


def test_the_dashboard_form_login_also_locks_out(env: Env) -> None:
    """The lock-out lives in the service, so the HTML form cannot bypass it."""
    page = env.client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"username": username(Role.VIEWER), "csrf_token": csrf}
    for _ in range(5):
        r = env.client.post("/login", data={**form, "password": "nope nope"},
                            follow_redirects=False)
        assert r.status_code == 303
    r = env.client.post("/login", data={**form, "password": PASSWORD}, follow_redirects=False)
    assert "locked" in r.headers["location"]


def test_it_admin_can_unlock(env: Env) -> None:
    who = {"username": username(Role.CLERK)}
    for _ in range(5):
        env.client.post("/api/v1/session", json={**who, "password": "nope nope"})
    r = TestClient(env.app).patch(f"/api/v1/users/{env.user_ids[Role.CLERK]}",
                                  json={"unlock": True}, headers=env.auth(Role.IT_ADMIN))
    assert r.status_code == 200 and r.json()["locked_until"] is None
    assert env.client.post("/api/v1/session", json={**who, "password": PASSWORD}).status_code == 200


def test_one_address_is_throttled_across_accounts(env: Env) -> None:
    for i in range(10):  # ten different (unknown) accounts: no lock-out can trigger
        assert_error(env.client.post("/api/v1/session",
                                     json={"username": f"guess{i}", "password": "guess guess"}),
                     401)
    r = env.client.post("/api/v1/session",
                        json={"username": username(Role.CLERK), "password": PASSWORD})
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) > 0
    # The dashboard form shares the same counter.
    r = env.client.post("/login", data={"username": "x", "password": "y", "csrf_token": "z"},
                        follow_redirects=False)
    assert_error(r, 429, "rate_limited")


def test_throttle_forgets_after_the_window() -> None:
    from api.auth.throttle import LoginThrottle

    now = [1000.0]
    t = LoginThrottle(max_failures=2, window=60, clock=lambda: now[0])
    t.failed("198.51.100.7")
    t.failed("198.51.100.7")
    assert t.retry_after("198.51.100.7") == 60
    assert t.retry_after("198.51.100.8") is None
    now[0] += 61
    assert t.retry_after("198.51.100.7") is None


def test_logout_ends_the_session(env: Env) -> None:
    csrf = env.login(Role.VIEWER)
    assert env.client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    r = env.client.get("/api/v1/session/me")
    assert_error(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"


def test_logout_everywhere_ends_other_sessions_and_tokens(env: Env) -> None:
    other = TestClient(env.app)
    env.login(Role.CLERK, other)
    token_headers = env.auth(Role.CLERK)
    csrf = env.login(Role.CLERK)
    r = env.client.post("/api/v1/session/logout-everywhere", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    assert_error(other.get("/api/v1/session/me"), 401)
    assert_error(TestClient(env.app).get("/api/v1/session/me", headers=token_headers), 401)
    with env.db.session() as s:
        assert s.execute(select(AuditRow).where(AuditRow.action == "logout-everywhere")).first()


def test_token_lifecycle_and_revocation(env: Env) -> None:
    viewer = env.auth(Role.VIEWER)
    made = env.client.post("/api/v1/tokens", json={"name": "kiosk"}, headers=viewer)
    assert made.status_code == 201
    token, token_id = made.json()["token"], made.json()["id"]
    mine = {"Authorization": f"Bearer {token}"}
    assert env.client.get("/api/v1/session/me", headers=mine).json()["via"] == "api"
    listed = env.client.get("/api/v1/tokens", headers=mine).json()
    assert token_id in [t["id"] for t in listed["items"]]
    assert all("token" not in t for t in listed["items"])
    # Another non-admin cannot see or revoke it.
    clerk = env.auth(Role.CLERK)
    assert token_id not in [t["id"] for t in
                            env.client.get("/api/v1/tokens", headers=clerk).json()["items"]]
    assert_error(env.client.delete(f"/api/v1/tokens/{token_id}", headers=clerk), 404)
    assert env.client.delete(f"/api/v1/tokens/{token_id}", headers=viewer).status_code == 204
    assert_error(env.client.get("/api/v1/session/me", headers=mine), 401, "unauthenticated")
    with env.db.session() as s:
        actions = set(s.execute(select(AuditRow.action)).scalars())
    assert {"create-token", "revoke-token"} <= actions


def test_only_it_admin_issues_tokens_for_others(env: Env) -> None:
    target = env.user_ids[Role.VIEWER]
    assert_error(env.client.post("/api/v1/tokens", json={"name": "x", "user_id": target},
                                 headers=env.auth(Role.CLERK)), 403, "forbidden")
    r = env.client.post("/api/v1/tokens", json={"name": "wallboard", "user_id": target},
                        headers=env.auth(Role.IT_ADMIN))
    assert r.status_code == 201 and r.json()["username"] == username(Role.VIEWER)
    assert_error(env.client.post("/api/v1/tokens", json={"name": ""},
                                 headers=env.auth(Role.CLERK)), 422, "invalid")


def test_a_browser_session_is_not_an_api_token(env: Env) -> None:
    env.login(Role.VIEWER)
    cookie = env.client.cookies["cg_session"]
    r = TestClient(env.app).get("/api/v1/session/me", headers={"Authorization": f"Bearer {cookie}"})
    assert_error(r, 401)
