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
    assert "Secure" not in cookie  # these tests speak http; they set secure_cookies = false
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


def _login(client: TestClient, name: str, password: str) -> int:
    r = client.post("/api/v1/session", json={"username": name, "password": password})
    return r.status_code


def test_fault_5_lockout_is_per_account_and_source_with_backoff(env: Env) -> None:
    """Issue 20, fault 5: five unauthenticated requests used to lock any named account (the
    clerk's, mid-meeting) for 15 minutes, correct password included, and "locked" showed
    only for real usernames. Now: per (name, source), backoff, the same answer for anyone."""
    clerk = username(Role.CLERK)
    answers = {}
    for i, name in enumerate((clerk, "no-such-user")):
        # (one address per name: the per-address throttle across names is tested below)
        attacker = TestClient(env.app, client=(f"203.0.113.{66 + i}", 40000))
        seen = [_login(attacker, name, "nope nope") for _ in range(5)]
        r = attacker.post("/api/v1/session", json={"username": name, "password": PASSWORD})
        answers[name] = (seen, r.status_code, r.json()["error"]["message"].split(";")[0])
        assert int(r.headers["retry-after"]) >= 1
    # the same answers whether or not the account exists: no enumeration
    assert answers[clerk] == answers["no-such-user"]
    assert answers[clerk][:2] == ([401] * 5, 429)
    assert "locked" not in answers[clerk][2]
    # the clerk, from her own address with no failures, logs in at once
    clerk_pc = TestClient(env.app, client=("198.51.100.20", 40000))
    assert _login(clerk_pc, clerk, PASSWORD) == 200
    # nothing account-wide is stored or audited
    with env.db.session() as s:
        assert not s.execute(select(AuditRow).where(AuditRow.action == "lockout")).first()


def test_fault_5_backoff_doubles_and_is_forgiven() -> None:
    from api.auth.throttle import AccountThrottle

    now = [1000.0]
    t = AccountThrottle(free=2, first=2, cap=60, clock=lambda: now[0])
    src = "198.51.100.7"
    for _ in range(2):
        assert t.retry_after("Clerk", src) is None
        t.failed("Clerk", src)
    assert t.retry_after("clerk", src) == 2  # the name as typed, case-folded
    assert t.retry_after("clerk", "198.51.100.8") is None  # another source: untouched
    now[0] += 2
    t.failed("clerk", src)
    assert t.retry_after("clerk", src) == 4
    for _ in range(10):
        now[0] += 61
        t.failed("clerk", src)
    assert t.retry_after("clerk", src) == 60  # capped
    now[0] += 121
    assert t.retry_after("clerk", src) is None  # quiet for long enough: forgotten
    t.failed("clerk", src)
    t.succeeded("clerk", src)
    assert t.retry_after("clerk", src) is None


def test_the_dashboard_form_login_has_the_same_backoff(env: Env) -> None:
    """The backoff wraps the service call both endpoints use: the form cannot bypass it."""
    page = env.client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"username": username(Role.VIEWER), "csrf_token": csrf}
    for _ in range(5):
        r = env.client.post("/login", data={**form, "password": "nope nope"},
                            follow_redirects=False)
        assert r.status_code == 303
    r = env.client.post("/login", data={**form, "password": PASSWORD}, follow_redirects=False)
    assert "too+many+failed+logins" in r.headers["location"]


def test_it_admin_can_lift_the_wait(env: Env) -> None:
    who = {"username": username(Role.CLERK)}
    for _ in range(5):
        env.client.post("/api/v1/session", json={**who, "password": "nope nope"})
    assert env.client.post("/api/v1/session", json={**who, "password": PASSWORD}
                           ).status_code == 429
    it = TestClient(env.app)
    shown = it.get(f"/api/v1/users/{env.user_ids[Role.CLERK]}", headers=env.auth(Role.IT_ADMIN))
    assert shown.json()["locked_until"] is not None  # IT sees the lock-out
    r = it.patch(f"/api/v1/users/{env.user_ids[Role.CLERK]}",
                                  json={"unlock": True}, headers=env.auth(Role.IT_ADMIN))
    assert r.status_code == 200 and r.json()["locked_until"] is None
    assert env.client.post("/api/v1/session", json={**who, "password": PASSWORD}).status_code == 200


def test_fault_7_forwarded_for_is_ignored_unless_from_a_trusted_proxy(
        tmp_path: Path, template_db: Path) -> None:
    """Issue 20, fault 7: X-Forwarded-For was believed from localhost, so a local client could
    take a fresh address per request and slip the per-address login throttle."""
    def guesses(env: Env, peer: str) -> list[int]:
        c = TestClient(env.app, client=(peer, 5000))
        return [c.post("/api/v1/session", json={"username": f"guess{i}", "password": "x y z w"},
                       headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                for i in range(11)]

    (tmp_path / "a").mkdir()
    env = build_env(tmp_path / "a", template_db)
    # untrusted (here: localhost, not configured): the header is ignored, one address
    assert guesses(env, "127.0.0.1")[-1] == 429
    (tmp_path / "b").mkdir()
    env = build_env(tmp_path / "b", template_db, '[web]\ntrusted_proxies = ["127.0.0.1"]\n')
    # from the configured proxy: eleven different clients, none throttled
    assert guesses(env, "127.0.0.1") == [401] * 11
    # a non-proxy peer sending the header is still one address
    assert guesses(env, "198.51.100.50")[-1] == 429


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


def test_fault_6_tokens_only_for_yourself(env: Env) -> None:
    """Issue 20, fault 6: IT could mint a token for the monitoring officer and then read
    subject-access exports and member reports, recorded under the officer's name."""
    officer = env.user_ids[Role.MONITORING_OFFICER]
    for role in Role:
        if env.user_ids[role] == officer:
            continue
        assert_error(env.client.post("/api/v1/tokens", json={"name": "x", "user_id": officer},
                                     headers=env.auth(role)), 403, "forbidden")
    r = env.client.post("/api/v1/tokens", json={"name": "mine", "user_id": officer},
                        headers=env.auth(Role.MONITORING_OFFICER))
    assert r.status_code == 201 and r.json()["username"] == username(Role.MONITORING_OFFICER)
    with env.db.session() as s:
        minted = s.execute(select(SessionRow).where(SessionRow.user_id == officer,
                                                    SessionRow.name == "x")).first()
    assert minted is None
    assert_error(env.client.post("/api/v1/tokens", json={"name": ""},
                                 headers=env.auth(Role.CLERK)), 422, "invalid")


def test_a_browser_session_is_not_an_api_token(env: Env) -> None:
    env.login(Role.VIEWER)
    cookie = env.client.cookies["cg_session"]
    r = TestClient(env.app).get("/api/v1/session/me", headers={"Authorization": f"Bearer {cookie}"})
    assert_error(r, 401)


def test_fault_7_secure_cookies_default_is_safe(tmp_path: Path) -> None:
    """Issue 20, fault 7: ``secure_cookies`` defaulted to false. Now true; the demo (plain
    http on loopback, no TLS proxy) is the one config that turns it off."""
    from dashboard.main.demo import DemoOptions, write_config
    from monitor.settings import load_settings

    assert load_settings(None, env={}).web.secure_cookies is True
    assert load_settings(None, env={}).web.trusted_proxies == []
    demo = load_settings(write_config(DemoOptions(tmp_path), live=False), env={})
    assert demo.web.secure_cookies is False
