"""A non-ASCII CSRF token is a refusal, never a 500 (compare_digest refuses non-ASCII str)."""

from __future__ import annotations

from api.auth.roles import Role
from tests.api.conftest import Env


def test_non_ascii_csrf_tokens_are_refused(env: Env) -> None:
    env.login(Role.CLERK)
    r = env.client.post("/logout", data={"csrf_token": "ü" * 8}, follow_redirects=False)
    assert r.status_code == 403
    env.client.cookies.set("cg_prelogin", "abc")
    r = env.client.post("/login", data={"username": "x", "password": "y",
                                        "csrf_token": "ü" * 8}, follow_redirects=False)
    assert r.status_code == 303 and "error" in r.headers["location"]
