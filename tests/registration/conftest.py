"""Fixtures: the API tests' migrated template database, plus a chamber that a TestClient
"stands in": requests come from a chamber address whose MAC a stand-in neighbour table
knows (the real one is the kernel's, exercised by tests/netns/test_registration.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.members.service import create_member
from api.registration.service import issue_code
from tests.api.conftest import (  # noqa: F401  (fixtures, re-exported)
    Env,
    build_env,
    cheap_argon2,
    template_db,
)

PHONE_IP = "198.51.100.23"
PHONE_MAC = "02:5e:00:00:00:23"  # locally administered: a phone's private address
TABLET_IP = "198.51.100.24"
TABLET_MAC = "00:1b:63:00:00:24"  # a vendor (universal) address
STRANGER_IP = "198.51.100.99"  # in the chamber subnet, but no neighbour entry
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Chamber:
    env: Env
    neighbours: dict[str, str] = field(default_factory=dict)

    def device(self, ip: str) -> TestClient:
        """A browser on the device with this address (its own cookie jar)."""
        return TestClient(self.env.app, client=(ip, 50000))

    def member(self, name: str = "Cllr Ada Lovelace") -> int:
        with self.env.db.session() as s:
            return create_member(s, name=name, actor="test").id

    def code(self, member_id: int, hours: int = 24) -> str:
        with self.env.db.session() as s:
            return issue_code(s, member_id=member_id, hours=hours, actor="test").code


def csrf_of(r: httpx.Response) -> str:
    m = CSRF.search(r.text)
    assert m, r.text
    return m.group(1)


def alert(r: httpx.Response) -> str:
    """The page's error message (role=alert), as text."""
    m = re.search(r'role="alert">\s*<p>(.*?)</p>', r.text, re.S)
    assert m, r.text
    return " ".join(m.group(1).split())


def register(client: TestClient, code: str, name: str = "") -> httpx.Response:
    form = client.get("/register")
    return client.post("/register", data={"code": code, "name": name,
                                          "csrf_token": csrf_of(form)},
                       follow_redirects=False)


@pytest.fixture
def chamber(tmp_path: Path, template_db: Path) -> Iterator[Chamber]:  # noqa: F811
    env = build_env(tmp_path, template_db)
    c = Chamber(env, {PHONE_IP: PHONE_MAC, TABLET_IP: TABLET_MAC})
    env.app.state.neighbour_dump = lambda: dict(c.neighbours)
    yield c
    env.client.close()
    env.db.dispose()
