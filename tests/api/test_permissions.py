"""Every route, from the route table: no credentials → 401 (or 303 to /login for pages),
a role outside the route's declared set → 403, a role inside it → neither.

Nothing here lists routes by hand. Roles come from the ``.roles`` tag that
``api.auth.deps.require`` / ``require_page`` put on the dependency each route declares, so a
new route without one fails this test instead of shipping public.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from api.auth.roles import Role
from tests.api.conftest import Env, assert_error

# The only ways in without a session or token: health, the login form and its JSON twin,
# static assets, and the API description itself.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/api/v1/session"),  # the JSON login
    ("GET", "/api/v1/openapi.json"),
    # Member self-registration (DESIGN §11): a one-time code or the asking device's MAC is
    # the credential; see dashboard/registration.py.
    ("GET", "/register"),
    ("POST", "/register"),
    ("GET", "/register/mine"),
    ("POST", "/register/mine/remove"),
    ("GET", "/register/privacy"),  # the members' notice: public information, no login
}
PUBLIC_MOUNTS = {"/static"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    url: str
    roles: frozenset[Role] | None
    page: bool  # an HTML page: redirects to /login instead of a JSON 401
    streams: bool


def _roles(dep: Dependant) -> frozenset[Role] | None:
    found = getattr(dep.call, "roles", None)
    if found is not None:
        return frozenset(found)
    for sub in dep.dependencies:
        inner = _roles(sub)
        if inner is not None:
            return inner
    return None


def _sample(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return str(next(iter(annotation)).value)
    if annotation is int:
        return "1"
    return "example.com"


def _url(route: RouteContext, path: str) -> str:
    dependant: Dependant = route.dependant
    samples = {p.name: _sample(p.field_info.annotation) for p in dependant.path_params}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: samples.get(m.group(1), "x"), path)


def endpoints(env: Env) -> Iterator[Endpoint]:
    """Every (method, path) the app answers, with included routers flattened the way
    FastAPI itself flattens them for routing and OpenAPI (effective path and dependencies)."""
    for route in iter_route_contexts(env.app.routes):
        original = route.original_route
        if isinstance(original, Mount):
            assert route.path in PUBLIC_MOUNTS, f"unexpected mount {route.path}"
            continue
        assert isinstance(original, APIRoute | Route), original
        path = route.path
        assert path is not None
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            if isinstance(original, APIRoute):
                roles = _roles(route.dependant)
                streams = "StreamingResponse" in getattr(route.response_class, "__name__", "")
                page = not path.startswith("/api/") and path != "/healthz"
                yield Endpoint(method, path, _url(route, path), roles, page, streams)
            else:
                yield Endpoint(method, path, path, None, False, False)


def call(client: TestClient, e: Endpoint, headers: dict[str, str] | None = None) -> Any:
    return client.request(e.method, e.url, headers=headers, follow_redirects=False)


def test_the_route_table_is_fully_declared(env: Env) -> None:
    seen = list(endpoints(env))
    assert len(seen) > 40
    for e in seen:
        if (e.method, e.path) in PUBLIC:
            assert not e.roles, f"{e.method} {e.path} is public and yet declares roles"
        else:
            assert e.roles, f"{e.method} {e.path} declares no roles via require()"
    # Everything OpenAPI advertises was walked.
    walked = {(e.method, e.path) for e in seen}
    spec = env.client.get("/api/v1/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method in ops:
            assert (method.upper(), path) in walked


def test_nothing_is_reachable_without_credentials(env: Env) -> None:
    anonymous = TestClient(env.app)
    for e in endpoints(env):
        if (e.method, e.path) in PUBLIC:
            continue
        r = call(anonymous, e)
        if e.page:
            assert r.status_code == 303, (e, r.status_code)
            assert r.headers["location"].startswith("/login"), e
        else:
            assert_error(r, 401, "unauthenticated")


def test_no_route_admits_a_role_it_does_not_declare(env: Env) -> None:
    client = TestClient(env.app)
    checked = 0
    for e in endpoints(env):
        if (e.method, e.path) in PUBLIC:
            continue
        assert e.roles is not None
        for role in Role:
            if role in e.roles:
                continue
            r = call(client, e, env.auth(role))
            assert r.status_code == 403, (e.method, e.path, role, r.status_code, r.text)
            if not e.page:
                assert_error(r, 403, "forbidden")
            checked += 1
    assert checked > 50


def test_every_declared_role_gets_past_the_door(env: Env) -> None:
    client = TestClient(env.app)
    for e in endpoints(env):
        if (e.method, e.path) in PUBLIC or e.streams:
            continue  # a stream would never end; its door is the same require() as the rest
        assert e.roles is not None
        for role in e.roles:
            r = call(client, e, env.auth(role))
            assert r.status_code not in (401, 403), (e.method, e.path, role, r.text)


def test_fault_6_role_matrix_officer_only_for_a_members_record(env: Env) -> None:
    """Issue 20, fault 6: subject-access exports and member reports (API and pages) are for
    the monitoring officer alone; the whole matrix — every route × every role plus no
    credentials — is what the three tests above walk."""
    seen = list(endpoints(env))
    guarded = [e for e in seen if (e.method, e.path) not in PUBLIC]
    matrix = len(guarded) * (len(Role) + 1)
    print(f"\nrole matrix: {len(guarded)} guarded routes x ({len(Role)} roles + anonymous) "
          f"= {matrix} cells; {len(seen) - len(guarded)} public routes")
    personal = [e for e in guarded if "subject-access" in e.path or "/members" in e.path
                and "/reports" in e.path]
    assert {e.path for e in personal} >= {"/api/v1/reports/subject-access/{member_id}",
                                          "/api/v1/reports/members/{member_id}"}
    for e in personal:
        assert e.roles == frozenset({Role.MONITORING_OFFICER}), (e.path, e.roles)


def test_fault_7_no_swagger_page_under_the_csp_only_the_json_schema(env: Env) -> None:
    """Issue 20, fault 7: /api/v1/docs was public but broken by the app's own CSP (inline
    script, CDN assets). It is gone; the OpenAPI JSON is the API's description."""
    anonymous = TestClient(env.app)
    for url in ("/api/v1/docs", "/api/v1/docs/oauth2-redirect", "/api/v1/redoc"):
        assert_error(anonymous.get(url), 404)
    r = anonymous.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.json()["paths"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
