"""HTTP-level guarantees: one error shape for every failure, security headers, size cap."""

from __future__ import annotations

from collections.abc import Iterator

from api.auth.roles import Role
from api.middleware import MAX_BODY
from tests.api.conftest import Env, assert_error


def test_unknown_route_and_wrong_method_use_the_error_shape(env: Env) -> None:
    assert_error(env.client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error(env.client.get("/no-such-page"), 404, "not_found")
    r = env.client.put("/healthz")
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["allow"]


def test_validation_errors_use_the_error_shape(env: Env) -> None:
    admin = env.auth(Role.IT_ADMIN)
    err = assert_error(env.client.get("/api/v1/members?limit=0", headers=admin), 422, "invalid")
    assert "limit" in str(err["message"])
    assert isinstance(err["details"], list) and err["details"][0]["loc"] == ["query", "limit"]
    assert_error(env.client.post("/api/v1/members", content=b"{not json",
                                 headers={**admin, "content-type": "application/json"}), 422)
    assert_error(env.client.get("/api/v1/members/0", headers=admin), 422)
    assert_error(env.client.get(f"/api/v1/members/{2**64}", headers=admin), 422)
    assert_error(env.client.get("/api/v1/members/99", headers=admin), 404, "not_found")


def test_pagination_bounds(env: Env) -> None:
    admin = env.auth(Role.IT_ADMIN)
    for query in ("limit=0", "limit=1001", "offset=-1", f"offset={2**40}", "limit=x"):
        assert_error(env.client.get(f"/api/v1/devices?{query}", headers=admin), 422, "invalid")
    page = env.client.get("/api/v1/devices?limit=1000&offset=0", headers=admin).json()
    assert page == {"items": [], "total": 0, "limit": 1000, "offset": 0}


def test_security_headers_on_pages_api_and_errors(env: Env) -> None:
    for r in (env.client.get("/healthz"), env.client.get("/login"),
              env.client.get("/api/v1/session/me"), env.client.get("/nope")):
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_the_login_page_has_no_inline_script(env: Env) -> None:
    html = env.client.get("/login").text
    assert "<script>" not in html and " on" + "click=" not in html


def test_oversized_body_is_refused(env: Env) -> None:
    big = b"x" * (MAX_BODY + 1)
    r = env.client.post("/api/v1/devices/import", content=big,
                        headers={**env.auth(Role.IT_ADMIN), "content-type": "application/json"})
    assert_error(r, 413, "too_large")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_oversized_chunked_body_is_refused(env: Env) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"x" * 65536

    r = env.client.post("/api/v1/devices/import", content=chunks(),
                        headers={**env.auth(Role.IT_ADMIN), "content-type": "application/json"})
    assert_error(r, 413, "too_large")


def test_small_chunked_body_is_replayed_intact(env: Env) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "Cllr '
        yield b'Chunked"}'

    r = env.client.post("/api/v1/members", content=chunks(),
                        headers={**env.auth(Role.IT_ADMIN), "content-type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Cllr Chunked"


def test_openapi_is_served_and_describes_the_api(env: Env) -> None:
    spec = env.client.get("/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "chamberguard"
    assert "/api/v1/rules" in spec["paths"] and "/api/v1/audit" in spec["paths"]
    # The audit trail is append-only: nothing but GET exists for it.
    assert set(spec["paths"]["/api/v1/audit"]) == {"get"}
    assert not [p for p in spec["paths"] if p.startswith("/api/v1/audit/")]


def test_a_number_too_large_for_the_database_is_a_422_not_a_crash(env: Env) -> None:
    """Our routes bound their ids; this is the safety net for a route that forgets to."""
    from fastapi import APIRouter, Depends, Request
    from sqlalchemy import select

    from api.auth.deps import database, require
    from api.auth.roles import ALL
    from monitor.store.models import Event

    careless = APIRouter()

    @careless.get("/api/v1/careless", dependencies=[Depends(require(ALL))])
    def unbounded(request: Request, event_id: int) -> list[int]:
        with database(request).session() as s:
            return list(s.execute(select(Event.id).where(Event.id == event_id)).scalars())

    env.app.include_router(careless)
    r = env.client.get(f"/api/v1/careless?event_id={2**63}", headers=env.auth(Role.VIEWER))
    assert_error(r, 422, "invalid")
