"""Fixtures for the dashboard page tests: a real app on a seeded SQLite file, driven the way
a browser without JavaScript drives it (cookie session from the login form, forms posted
with their CSRF token)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dashboard.app import create_app
from tests.dashboard.seed import PASSWORD, Seeded, seed
from tests.hashing import cheap_argon2  # noqa: F401  (session fixture)


@dataclass
class Site:
    seeded: Seeded
    client: TestClient

    @property
    def ids(self) -> dict[str, int]:
        return self.seeded.ids

    def login(self, username: str) -> TestClient:
        c = TestClient(self.client.app, follow_redirects=False)
        page = c.get("/login")
        token = csrf_of(page.text)
        r = c.post("/login", data={"username": username, "password": PASSWORD,
                                   "csrf_token": token, "next": "/"})
        assert r.status_code == 303 and r.headers["location"] == "/", r.text
        return c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


@pytest.fixture
def site(tmp_path: Path, cheap_argon2: None) -> Iterator[Site]:  # noqa: F811
    seeded = seed(tmp_path)
    app = create_app(seeded.settings, seeded.db)
    client = TestClient(app, follow_redirects=False)
    yield Site(seeded, client)
    client.close()
    seeded.db.dispose()
