"""FastAPI dependencies: who is asking (session cookie or bearer token) and may they?

Cookie-authenticated state-changing requests must carry the session's CSRF token (header
``X-CSRF-Token`` or form field ``csrf_token``); bearer tokens are not sent by browsers on
their own, so they need none.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from api.auth.roles import Role
from api.users.service import Principal, resolve
from monitor.store.db import Database

SESSION_COOKIE = "cg_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class LoginRequired(Exception):
    """Raised for HTML pages: the app turns it into a redirect to /login."""


def client_address(request: Request) -> str:
    """The client's address as :class:`api.middleware.TrustedProxies` settled it: the peer,
    or what a configured proxy says the peer was — never a header from anyone else."""
    return request.client.host if request.client else "unknown"


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def principal(request: Request) -> Principal | None:
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    db = database(request)
    p: Principal | None = None
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()

        def _resolve_api() -> Principal | None:
            with db.session() as s:
                return resolve(s, token=token, kind="api")

        p = await run_in_threadpool(_resolve_api)
    elif cookie := request.cookies.get(SESSION_COOKIE):

        def _resolve_browser() -> Principal | None:
            with db.session() as s:
                return resolve(s, token=cookie, kind="browser")

        p = await run_in_threadpool(_resolve_browser)
        if p is not None and request.method not in SAFE_METHODS:
            sent = request.headers.get("x-csrf-token")
            if sent is None and "form" in request.headers.get("content-type", ""):
                form = await request.form()
                value = form.get("csrf_token")
                sent = value if isinstance(value, str) else None
            # Bytes, not str: compare_digest refuses non-ASCII text (a crafted token → a 500).
            if not sent or not hmac.compare_digest(sent.encode(), p.csrf.encode()):
                raise HTTPException(403, "missing or wrong CSRF token")
    request.state.principal = p
    return p


def require(roles: Iterable[Role]) -> Callable[[Request], Awaitable[Principal]]:
    """Dependency for JSON routes: 401 without credentials, 403 with the wrong role."""
    allowed = frozenset(roles)

    async def dep(request: Request) -> Principal:
        p = await principal(request)
        if p is None:
            raise HTTPException(401, "login or API token required",
                                headers={"WWW-Authenticate": "Bearer"})
        if p.role not in allowed:
            raise HTTPException(403, f"role {p.role.value} may not do this")
        return p

    dep.roles = allowed  # type: ignore[attr-defined]  # read by the route-permission test
    return dep


def require_page(roles: Iterable[Role]) -> Callable[[Request], Awaitable[Principal]]:
    """Dependency for HTML pages: redirect to the login page instead of a JSON 401."""
    allowed = frozenset(roles)

    async def dep(request: Request) -> Principal:
        p = await principal(request)
        if p is None:
            raise LoginRequired()
        if p.role not in allowed:
            raise HTTPException(403, f"role {p.role.value} may not open this page")
        return p

    dep.roles = allowed  # type: ignore[attr-defined]
    return dep
