"""The JSON API under /api/v1: its routers, middleware and error shape, built by build_api()
at start-up (never at import time) from settings and a database.

The whole web application (this plus the dashboard's pages) is composed one layer up, in
dashboard/app.py: the API never imports the dashboard."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.audit.routes import router as audit_router
from api.auth.deps import LoginRequired
from api.auth.routes import router as session_router
from api.auth.throttle import AccountThrottle, LoginThrottle, LoginThrottleMiddleware
from api.devices.routes import router as devices_router
from api.errors import ServiceError, error_body
from api.events.routes import router as events_router
from api.explain.routes import router as explain_router
from api.health import router as health_router
from api.meetings.routes import router as meetings_router
from api.members.routes import router as members_router
from api.middleware import (
    MAX_BODY,
    SECURITY_HEADERS,
    BodyLimit,
    NoNulText,
    SecurityHeaders,
    TrustedProxies,
)
from api.platforms.routes import router as platforms_router
from api.presets.routes import router as presets_router
from api.registration.routes import router as registration_router
from api.reports.routes import router as reports_router
from api.rules.routes import router as rules_router
from api.site.routes import router as site_router
from api.users.routes import router as users_router
from monitor.settings import Settings
from monitor.store.db import Database

__all__ = ["MAX_BODY", "SECURITY_HEADERS", "build_api", "install_error_handlers"]

HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid",
              429: "rate_limited"}
ROUTERS = (health_router, session_router, users_router, rules_router, presets_router,
           platforms_router, explain_router, members_router, registration_router,
           devices_router, meetings_router,
           site_router, audit_router, events_router)


def _describe(errors: list[Any]) -> str:
    """"body.mac: Field required; query.limit: ..." — enough to fix the request."""
    parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors[:3]]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more if parts else "request is not valid"


def _browser_page(request: Request, status: int, message: str) -> Response | None:
    """The dashboard's HTML error page, for a browser asking for a page (not /api/), when the
    dashboard is mounted (it sets ``app.state.html_error``); None: answer in JSON."""
    page = getattr(request.app.state, "html_error", None)
    if (page is None or request.url.path.startswith("/api/")
            or "text/html" not in request.headers.get("accept", "")):
        return None
    resp: Response = page(request, status, message)
    return resp


BROWSER_TEXT = {404: "There is no such page.", 405: "That page cannot be used that way.",
                422: "The form was not filled in as expected. Go back, check it and try again."}


def install_error_handlers(app: FastAPI) -> None:
    """Every failure — ours, FastAPI's, Starlette's 404/405 — leaves in the one error shape
    (or, for a browser asking for a page, as the dashboard's HTML error page)."""

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status,
                            headers=getattr(exc, "headers", None))

    # Starlette's class, not FastAPI's subclass: unknown routes and wrong methods raise it.
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in BROWSER_TEXT and (
                html := _browser_page(request, exc.status_code, BROWSER_TEXT[exc.status_code])):
            return html
        code = HTTP_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if html := _browser_page(request, 422, BROWSER_TEXT[422]):
            return html
        errors = list(exc.errors())
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors]
        return JSONResponse(error_body("invalid", _describe(errors), details), status_code=422)

    # Defence in depth: a number beyond 64 bits reaching the database (a route that forgot
    # its bounds) is the caller's error, not a crash.
    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, __: OverflowError) -> JSONResponse:
        return JSONResponse(error_body("invalid", "a number in the request is too large"),
                            status_code=422)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(Exception)
    async def _crash(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse(error_body("internal", "internal error; see the server log"),
                            status_code=500)


def build_api(settings: Settings, db: Database) -> FastAPI:
    """The JSON API under /api/v1 (and the report routes), with the middleware and error
    handlers every answer passes through. dashboard/app.py adds the pages on top of it."""
    app = FastAPI(
        title="chamberguard",
        version="0.1.0",
        openapi_url="/api/v1/openapi.json",
        # No Swagger UI: it needs inline script and a CDN, which the CSP (rightly) forbids,
        # so it was a public page that never worked. The JSON description is the document.
        docs_url=None,
        swagger_ui_oauth2_redirect_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.login_throttle = LoginThrottle()
    app.state.account_throttle = AccountThrottle()
    # Added innermost first: headers go on everything, including 413 and 429 answers.
    app.add_middleware(NoNulText)
    app.add_middleware(LoginThrottleMiddleware, throttle=app.state.login_throttle)
    app.add_middleware(BodyLimit, max_body=MAX_BODY)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedProxies, trusted=settings.web.trusted_proxies)  # outermost
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(reports_router)
    return app
