"""The social platforms IT recognises and their domains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from api.errors import Invalid, ServiceError
from api.platforms import service as platforms
from api.session import DbSession, attempt
from dashboard.admin.common import Admin, base, redirect_done
from dashboard.web import render

router = APIRouter(include_in_schema=False)


def _platforms(request: Request, s: Session, *, done_code: str | None = None,
               error: str | None = None, status: int = 200,
               form: Mapping[str, str] | None = None) -> Response:
    ctx = base("platforms", done_code, error)
    ctx.update(platforms=platforms.list_platforms(s), form=form or {})
    return render(request, "admin/platforms.html", ctx, status=status)


@router.get("/admin/platforms", response_class=HTMLResponse)
def platforms_page(request: Request, s: DbSession, who: Admin,
                   done: str | None = None) -> Response:
    return _platforms(request, s, done_code=done)


@router.post("/admin/platforms", response_class=HTMLResponse)
def add_platform_domains(
    request: Request, s: DbSession, who: Admin,
    key: Annotated[str, Form(max_length=32)],
    domains: Annotated[str, Form(max_length=5000)],
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    suffixes = [d for d in domains.replace(",", " ").split() if d]
    try:
        if not key.strip() or not suffixes:
            raise Invalid("give the platform's key and at least one domain")
        with attempt(s):
            platforms.add_domains(s, key=key.strip().lower(), suffixes=suffixes,
                                  name=name.strip() or None, actor=who.username)
    except ServiceError as exc:
        return _platforms(request, s, error=exc.message, status=exc.status,
                          form={"key": key, "domains": domains, "name": name})
    return redirect_done("/admin/platforms", "platform-added")


@router.post("/admin/platforms/{key}/remove", response_class=HTMLResponse)
def remove_platform_domain(request: Request, s: DbSession,
                           key: Annotated[str, Path(max_length=32)], who: Admin,
                           domain: Annotated[str, Form(max_length=300)]) -> Response:
    try:
        with attempt(s):
            platforms.remove_domain(s, key=key, domain=domain, actor=who.username)
    except ServiceError as exc:
        return _platforms(request, s, error=exc.message, status=exc.status)
    return redirect_done("/admin/platforms", "platform-removed")
