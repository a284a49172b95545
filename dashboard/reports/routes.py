"""Report pages (``/reports/…``) and the HTML and PDF downloads: the dashboard draws the
document api.reports builds.

Pages (HTML, login redirect) show the document with links to the signed downloads:
``/reports/meetings/{id}``, ``/reports/members``, ``/reports/site``, and the verify-by-upload
page ``/reports/verify``; their stylesheet is ``/reports/static/report.css`` (external: the
CSP forbids inline styles on pages). The HTML and PDF files, signed like the API's data
formats and entered in the same register:

    GET  /reports/files/meetings/{id}?format=html|pdf              clerk, officer
    GET  /reports/files/members/{id}?from=&to=&format=html|pdf     monitoring officer
    GET  /reports/files/site?from=&to=&format=html|pdf             clerk, monitoring officer

The downloadable HTML file inlines the stylesheet and is served with a CSP that admits it by
hash only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.auth.deps import database, require_page
from api.auth.roles import REPORTS
from api.errors import Invalid, NotFound
from api.reports import service
from api.reports.routes import MAX_UPLOAD, OFFICER, DateQ, date_range, download
from api.users.service import Principal
from api.validation import MAX_ID, IdPath
from dashboard.reports import render
from dashboard.web import HERE as DASHBOARD_DIR
from dashboard.web import PageError
from monitor.settings import Settings
from monitor.store.models import Member

Drawn = Literal["html", "pdf"]
PageReporter = Annotated[Principal, Depends(require_page(REPORTS))]
PageOfficer = Annotated[Principal, Depends(require_page(OFFICER))]

router = APIRouter(prefix="/reports", include_in_schema=False)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _templates() -> Jinja2Templates:
    loader = ChoiceLoader([FileSystemLoader(str(render.TEMPLATES)),
                           FileSystemLoader(str(DASHBOARD_DIR / "templates"))])
    env = Environment(loader=loader, autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(render.filters())
    env.globals.update(plural=render.plural, member_timeline=render.timeline.member_timeline)
    return Jinja2Templates(env=env)


templates = _templates()


def _page(request: Request, ctx: dict[str, Any]) -> HTMLResponse:
    doc = ctx.get("doc")
    ctx = {"who": getattr(request.state, "principal", None),
           "appendix": render.appendix(doc) if doc else {}, **ctx}
    resp: HTMLResponse = templates.TemplateResponse(request, "page.html", ctx)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@router.get("/static/report.css")
def report_css(_: PageReporter) -> Response:
    return Response(render.css(), media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=3600"})


@router.get("/meetings/{meeting_id}", response_class=HTMLResponse)
async def meeting_page(request: Request, meeting_id: IdPath, who: PageReporter) -> Response:
    db, settings = database(request), _settings(request)
    try:
        doc = await run_in_threadpool(service.build, db=db, settings=settings,
                                      kind="meeting", actor=who.username, meeting_id=meeting_id,
                                      lookups=True)
    except NotFound as exc:
        raise PageError(404, exc.message) from None
    base = f"/api/v1/reports/meetings/{meeting_id}"
    return _page(request, {"doc": doc, "body": "_meeting_body.html", "downloads": base,
                           "files": f"/reports/files/meetings/{meeting_id}",
                           "query": ""})


def _members(request: Request) -> list[tuple[int, str]]:
    with database(request).session() as s:
        return [(i, n) for i, n in s.execute(select(Member.id, Member.name)
                                             .order_by(Member.name))]


@router.get("/members", response_class=HTMLResponse)
async def member_page(request: Request, who: PageOfficer,
                      member_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                      from_: Annotated[DateQ, Query(alias="from")] = None,
                      to: DateQ = None) -> Response:
    db, settings = database(request), _settings(request)
    members = await run_in_threadpool(_members, request)
    lo, hi, frm, until = date_range(from_, to)
    ctx: dict[str, Any] = {"form": "member", "members": members, "member_id": member_id,
                           "from": frm, "to": until, "doc": None}
    if member_id is not None:
        try:
            ctx["doc"] = await run_in_threadpool(service.build, db=db, settings=settings,
                                                 kind="member", actor=who.username,
                                                 member=member_id,
                                                 since=lo, until=hi)
        except NotFound as exc:
            raise PageError(404, exc.message) from None
        ctx["body"] = "_member_body.html"
        ctx["downloads"] = f"/api/v1/reports/members/{member_id}"
        ctx["files"] = f"/reports/files/members/{member_id}"
        ctx["query"] = f"&from={ctx['from']}&to={ctx['to']}"
    return _page(request, ctx)


@router.get("/site", response_class=HTMLResponse)
async def site_page(request: Request, who: PageReporter,
                    from_: Annotated[DateQ, Query(alias="from")] = None,
                    to: DateQ = None) -> Response:
    db, settings = database(request), _settings(request)
    lo, hi, frm, until = date_range(from_, to)
    doc = await run_in_threadpool(service.build, db=db, settings=settings, kind="site",
                                  actor=who.username,
                                  since=lo, until=hi)
    return _page(request, {"form": "site", "doc": doc, "body": "_site_body.html",
                           "downloads": "/api/v1/reports/site",
                           "files": "/reports/files/site", "from": frm, "to": until,
                           "query": f"&from={frm}&to={until}"})


@router.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request, who: PageReporter) -> Response:
    """The monitoring officer's (and clerk's) verify-by-upload page."""
    return _verify_page(request, None, None)


@router.post("/verify", response_class=HTMLResponse)
async def verify_upload(request: Request, who: PageReporter,
                        file: Annotated[UploadFile, File()]) -> Response:
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _verify_page(request, service.Verification(False, "file too large to be a "
                                                          "report"), file.filename, 413)
    db, settings = database(request), _settings(request)
    try:
        v = await run_in_threadpool(service.verify_file, data=data, settings=settings,
                                          db=db)
    except Invalid as exc:
        v = service.Verification(False, exc.message)
    return _verify_page(request, v, file.filename, 200 if v.ok else 422)


def _verify_page(request: Request, result: service.Verification | None, filename: str | None,
                 status: int = 200) -> HTMLResponse:
    ctx = {"who": getattr(request.state, "principal", None), "result": result,
           "filename": filename}
    resp: HTMLResponse = templates.TemplateResponse(request, "verify_page.html", ctx,
                                                    status_code=status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


# ---------------------------------------------------------------------------- files
def _file(doc: dict[str, Any], fmt: str, data: bytes) -> Response:
    extra = {"Content-Security-Policy": render.css_csp()} if fmt == "html" else None
    return download(doc, fmt, data, extra)


async def _issue(request: Request, kind: str, fmt: str, actor: str, **params: Any
                 ) -> Response:
    try:
        doc, data = await run_in_threadpool(
            service.report_file, db=database(request), settings=_settings(request), kind=kind,
            fmt=fmt, actor=actor, render=render.body, **params)
    except NotFound as exc:
        raise PageError(404, exc.message) from None
    return _file(doc, fmt, data)


@router.get("/files/meetings/{meeting_id}")
async def meeting_file(request: Request, meeting_id: IdPath, who: PageReporter,
                       format: Drawn = "pdf") -> Response:
    return await _issue(request, "meeting", format, who.username, meeting_id=meeting_id)


@router.get("/files/members/{member_id}")
async def member_file(request: Request, member_id: IdPath, who: PageOfficer,
                      from_: Annotated[DateQ, Query(alias="from")] = None,
                      to: DateQ = None, format: Drawn = "pdf") -> Response:
    lo, hi, _, _ = date_range(from_, to)
    return await _issue(request, "member", format, who.username, member=member_id,
                        since=lo, until=hi)


@router.get("/files/site")
async def site_file(request: Request, who: PageReporter,
                    from_: Annotated[DateQ, Query(alias="from")] = None,
                    to: DateQ = None, format: Drawn = "pdf") -> Response:
    lo, hi, _, _ = date_range(from_, to)
    return await _issue(request, "site", format, who.username, since=lo, until=hi)
