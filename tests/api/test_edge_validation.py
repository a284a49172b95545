"""Issue 20, fault 4: database-agnostic validation at the API edge. PostgreSQL answered 500
for ids above 2,147,483,647 (the API took 64-bit ids, the columns are 32-bit) and for a NUL
in any text field; SQLite stored both. Now both databases give the same clear 422."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.auth.roles import Role
from api.validation import MAX_ID
from tests.api.conftest import Env, assert_error, build_env_on
from tests.pg import pg_cluster  # noqa: F401  (session fixture)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest, tmp_path: Path, template_db: Path) -> Iterator[Env]:
    env = build_env_on(request.param, tmp_path, template_db, request)
    yield env
    env.client.close()
    env.db.dispose()


def test_fault_4_ids_beyond_the_integer_column_are_422_on_both(any_db: Env) -> None:
    admin = any_db.auth(Role.IT_ADMIN)
    c = any_db.client
    assert MAX_ID == 2**31 - 1
    for big in (MAX_ID + 1, 2**63 - 1, 2**63, 10**30):
        for r in (c.get(f"/api/v1/members/{big}", headers=admin),
                  c.get(f"/api/v1/devices?member_id={big}", headers=admin),
                  c.get(f"/api/v1/events?after_id={big}", headers=admin),
                  c.post("/api/v1/devices", headers=admin,
                         json={"mac": "02:00:5e:10:00:01", "member_id": big})):
            err = assert_error(r, 422, "invalid")
            assert "less than or equal to 2147483647" in str(err["message"]), err
    assert_error(c.get(f"/api/v1/members/{MAX_ID}", headers=admin), 404)  # in range: not found


def test_fault_4_nul_in_text_is_422_on_both_and_nothing_is_stored(any_db: Env) -> None:
    admin = any_db.auth(Role.IT_ADMIN)
    c = any_db.client
    err = assert_error(c.post("/api/v1/members", headers=admin, json={"name": "Cllr\x00Ada"}),
                       422, "invalid")
    assert err["message"] == "body.name: text must not contain a NUL character"
    err = assert_error(c.post("/api/v1/members", headers=admin,
                              json={"name": "ok", "email": None, "\x00": 1}), 422)
    err = assert_error(c.get("/api/v1/members?q=a%00b", headers=admin), 422)
    assert err["message"] == "query: text must not contain a NUL character"
    err = assert_error(c.get("/api/v1/members/1%00", headers=admin), 422)
    assert_error(c.post("/login", data={"username": "a\x00", "password": "x", "csrf_token": "y"}),
                 422)
    # an escaped backslash followed by "u0000" is ordinary text
    r = c.post("/api/v1/members", headers=admin, json={"name": "Cllr \\u0000 Ada"})
    assert r.status_code == 201 and r.json()["name"] == "Cllr \\u0000 Ada"
    assert c.get("/api/v1/members", headers=admin).json()["total"] == 1


def test_fault_4_every_integer_and_text_in_the_api_is_bounded() -> None:
    """The whole OpenAPI description: every integer has a maximum within the INTEGER
    columns, every free text a maxLength — so no database ever sees an unbounded value."""
    from dashboard.app import create_app
    from monitor.settings import load_settings
    from monitor.store.db import Database

    spec = create_app(load_settings(None, env={}), Database("sqlite://")).openapi()
    comps = spec.get("components", {}).get("schemas", {})
    loose: list[str] = []

    def walk(schema: object, where: str, seen: frozenset[str]) -> None:
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(comps[name], f"{where}->{name}", seen | {name})
            return
        kind = schema.get("type")
        if kind == "integer" and schema.get("maximum", MAX_ID + 1) > MAX_ID:
            loose.append(f"{where}: integer without a maximum <= {MAX_ID}")
        if kind == "string" and not ({"maxLength", "enum", "format"} & set(schema)):
            loose.append(f"{where}: text without maxLength")
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                walk(sub, where, seen)
        for prop, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{prop}", seen)
        walk(schema.get("items"), f"{where}[]", seen)

    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for prm in op.get("parameters", []):
                walk(prm.get("schema"), f"{method.upper()} {path} {prm['name']}", frozenset())
            for body in op.get("requestBody", {}).get("content", {}).values():
                walk(body.get("schema"), f"{method.upper()} {path} body", frozenset())
    assert loose == []
