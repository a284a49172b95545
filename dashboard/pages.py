"""Dashboard pages (server-rendered Jinja2; small JS only for live updates)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from api.auth.deps import SESSION_COOKIE, client_address
from api.auth.roles import LIVE_VIEW
from api.session import DbSession, attempt
from api.users.service import LoginFailed, Principal, logout, throttled_login
from dashboard import web

HERE = Path(__file__).parent
PRELOGIN_COOKIE = "cg_prelogin"


def _templates() -> Jinja2Templates:
    return web.templates


def _safe_next(target: str | None) -> str:
    return web.safe_next(target)


def build_router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/", error: str | None = None) -> Response:
        token = request.cookies.get(PRELOGIN_COOKIE) or secrets.token_urlsafe(24)
        resp = templates.TemplateResponse(request, "login.html",
                                          {"csrf": token, "next": _safe_next(next), "error": error})
        resp.set_cookie(PRELOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.app.state.settings.web.secure_cookies)
        return resp

    @router.post("/login")
    async def login_submit(
        request: Request, s: DbSession,
        username: Annotated[str, Form(max_length=100)],
        password: Annotated[str, Form(max_length=1000)],
        csrf_token: Annotated[str, Form(max_length=100)],
        next: Annotated[str, Form(max_length=500)] = "/",
    ) -> Response:
        # Double-submit: the form's token must equal the pre-login cookie (login CSRF).
        expected = request.cookies.get(PRELOGIN_COOKIE, "")
        # Bytes, not str: compare_digest refuses non-ASCII text (a crafted token → a 500).
        if not secrets.compare_digest(csrf_token.encode(), expected.encode()):
            return RedirectResponse("/login?error=Please+try+again", status_code=303)
        settings = request.app.state.settings

        def _do() -> str:
            with attempt(s):  # a refused login leaves nothing behind
                token, _ = throttled_login(
                    s, request.app.state.account_throttle, source=client_address(request),
                    username=username, password=password, hours=settings.web.session_hours)
                return token

        try:
            token = await run_in_threadpool(_do)
        except LoginFailed as exc:
            return RedirectResponse(f"/login?error={str(exc).replace(' ', '+')}", status_code=303)
        resp = RedirectResponse(_safe_next(next), status_code=303)
        resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=settings.web.secure_cookies,
                        max_age=settings.web.session_hours * 3600)
        resp.delete_cookie(PRELOGIN_COOKIE)
        return resp

    @router.post("/logout")
    def logout_submit(request: Request, s: DbSession,
                      who: Annotated[Principal, Depends(web.page(LIVE_VIEW))]) -> Response:
        logout(s, session_id=who.session_id)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    return router


def mount(app: FastAPI) -> None:
    from dashboard.admin import router as admin_router
    from dashboard.check import router as check_router
    from dashboard.device_page import router as device_page_router
    from dashboard.identity import router as identity_router
    from dashboard.live import router as live_router
    from dashboard.meetings_edit import router as meetings_edit_router
    from dashboard.privacy.pages import router as privacy_router
    from dashboard.reports.routes import router as reports_pages
    from dashboard.slip import router as slip_router

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_exception_handler(web.PageError, web.error_page)
    # A browser that hits an unknown page or sends a broken form gets the HTML error page
    # (api.app's handlers ask for this; API clients keep the JSON error shape).
    app.state.html_error = lambda request, status, message: web.error_page(
        request, web.PageError(status, message))
    app.include_router(reports_pages)  # before the pages: /reports/site etc.
    app.include_router(build_router(_templates()))
    app.include_router(live_router)
    app.include_router(check_router)
    app.include_router(admin_router)
    app.include_router(privacy_router)
    app.include_router(slip_router)
    app.include_router(meetings_edit_router)
    app.include_router(device_page_router)
    app.include_router(identity_router)
