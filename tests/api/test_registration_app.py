"""The chamber-side listener serves the registration page and nothing else."""

from __future__ import annotations

from fastapi.testclient import TestClient

from dashboard.app import create_registration_app
from tests.api.conftest import Env


def test_registration_app_serves_only_registration(env: Env) -> None:
    client = TestClient(create_registration_app(env.settings, env.db))
    assert client.get("/register").status_code in (200, 403)  # 403: no known MAC here
    assert client.get("/static/register.css").status_code == 200
    for path in ("/login", "/", "/api/v1/members", "/api/v1/openapi.json", "/admin/allowlist"):
        assert client.get(path, follow_redirects=False).status_code == 404, path
