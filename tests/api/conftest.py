"""Fixtures for the web API tests: a real app on a real (SQLite file) database.

Migrations run once per session into a template database that already holds one user and
API token per role; each test gets a fresh copy of that file, so tests are isolated and fast.
argon2 runs with cheap parameters here: hashing strength is not what these tests measure.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.auth.roles import Role
from api.users.service import create_user, issue_token
from dashboard.app import create_app
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import User
from tests.factories import web_settings
from tests.hashing import cheap_argon2  # noqa: F401  (session fixture)

PASSWORD = "correct horse battery"


def username(role: Role) -> str:
    return f"{role.value}-user"


def make_settings(data_dir: Path, extra: str = "") -> Settings:
    return web_settings(data_dir, extra)




@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory, cheap_argon2: None) -> Path:  # noqa: F811
    data_dir = tmp_path_factory.mktemp("template")
    settings = make_settings(data_dir)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    with db.session() as s:
        for role in Role:
            create_user(s, username=username(role), password=PASSWORD, role=role, actor="test")
    db.dispose()  # last connection closed: the WAL is checkpointed into the file
    return data_dir / "chamberguard.db"


@dataclass
class Env:
    app: FastAPI
    client: TestClient
    db: Database
    settings: Settings
    user_ids: dict[Role, int] = field(default_factory=dict)

    def token(self, role: Role, name: str = "test") -> str:
        """A fresh API token for the role's user (fresh: a test may revoke the last one)."""
        with self.db.session() as s:
            token, _ = issue_token(s, user_id=self.user_ids[role], name=name, actor="test")
        return token

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def login(self, role: Role, client: TestClient | None = None) -> str:
        """Cookie session via the JSON login; returns its CSRF token."""
        r = (client or self.client).post("/api/v1/session",
                                         json={"username": username(role), "password": PASSWORD})
        assert r.status_code == 200, r.text
        csrf: str = r.json()["csrf_token"]
        return csrf


def build_env(tmp_path: Path, template_db: Path, extra_settings: str = "") -> Env:
    shutil.copy(template_db, tmp_path / "chamberguard.db")
    settings = make_settings(tmp_path, extra_settings)
    db = Database(settings.database_url)
    app = create_app(settings, db)
    env = Env(app, TestClient(app), db, settings)
    with db.session() as s:
        for u in s.execute(select(User)).scalars():
            env.user_ids[Role(u.role)] = u.id
    return env


def build_env_on(backend: str, tmp_path: Path, template_db: Path,
                 request: pytest.FixtureRequest) -> Env:
    """:func:`build_env` on SQLite, or the same users and app on a fresh PostgreSQL database
    (``pg_cluster`` from tests/pg.py must be importable by the requesting module)."""
    if backend == "sqlite":
        return build_env(tmp_path, template_db)
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.new_database()
    with Database(url).session() as s:  # the same users as the SQLite template
        for role in Role:
            create_user(s, username=username(role), password=PASSWORD, role=role, actor="test")
    settings = make_settings(tmp_path, f'[database]\nurl = "{url}"\n')
    db = Database(settings.database_url)
    app = create_app(settings, db)
    env = Env(app, TestClient(app), db, settings)
    with db.session() as s:
        for u in s.execute(select(User)).scalars():
            env.user_ids[Role(u.role)] = u.id
    return env


@pytest.fixture
def env(tmp_path: Path, template_db: Path) -> Iterator[Env]:
    e = build_env(tmp_path, template_db)
    yield e
    e.client.close()
    e.db.dispose()


@pytest.fixture
def admin(env: Env) -> dict[str, str]:
    return env.auth(Role.IT_ADMIN)


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    """The one error shape: {"error": {"code", "message", "details"}}."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    err: dict[str, object] = body["error"]
    return err
