"""Report routes: the JSON API (``/api/v1/reports/…``) and the report pages (``/reports/…``).

API — every download is a signed file (see dashboard.reports.signing), entered in the
register of issued reports:

    GET  /api/v1/reports/meetings/{id}?format=json|html|pdf|csv|lookups  clerk, officer
    GET  /api/v1/reports/members/{id}?from=&to=&format=…             monitoring officer
    GET  /api/v1/reports/site?from=&to=&format=…                     clerk, monitoring officer
    POST /api/v1/reports/verify          (body: the file)            clerk, monitoring officer
    GET  /api/v1/reports/chain           verify the event chain      monitoring officer, IT
    GET  /api/v1/reports/subject-access/{member_id}?format=json|csv  monitoring officer

Pages (HTML, login redirect) show the same document with links to the signed downloads:
``/reports/meetings/{id}``, ``/reports/members``, ``/reports/site``, and the verify-by-upload
page ``/reports/verify``; their stylesheet is
``/reports/static/report.css`` (external: the CSP forbids inline styles on pages). The
downloadable HTML file inlines that stylesheet and is served with a CSP that admits it by
hash only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from allowlist.clock import LONDON
from api.auth.deps import database, require, require_page
from api.auth.roles import REPORTS, Role
from api.errors import Invalid, NotFound
from api.reports import service
from api.users.service import Principal
from api.validation import MAX_ID, IdPath
from dashboard.reports import render
from dashboard.web import HERE as DASHBOARD_DIR
from dashboard.web import PageError
from monitor.settings import Settings
from monitor.store.models import Member

# A member's record across meetings and everything held about them: the officer's alone.
OFFICER = frozenset({Role.MONITORING_OFFICER})
CHAIN = frozenset({Role.MONITORING_OFFICER, Role.IT_ADMIN})
Format = Literal["json", "html", "pdf", "csv", "lookups"]
MAX_UPLOAD = 2 * 1024 * 1024  # the app's body limit; a report is far smaller

api = APIRouter(prefix="/api/v1/reports", tags=["reports"])
pages = APIRouter(prefix="/reports", include_in_schema=False)
router = APIRouter()

Reporter = Annotated[Principal, Depends(require(REPORTS))]
Officer = Annotated[Principal, Depends(require(OFFICER))]
ChainReader = Annotated[Principal, Depends(require(CHAIN))]
PageReporter = Annotated[Principal, Depends(require_page(REPORTS))]
PageOfficer = Annotated[Principal, Depends(require_page(OFFICER))]
DateQ = Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD (London) or ISO "
                                                                "8601")]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _download(doc: dict[str, Any], fmt: str, data: bytes) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{render.filename(doc, fmt)}"',
               "Cache-Control": "no-store"}
    if fmt == "html":
        headers["Content-Security-Policy"] = render.css_csp()
    return Response(data, media_type=render.MEDIA[fmt], headers=headers)


def _range(since: str | None, until: str | None) -> tuple[datetime, datetime, str, str]:
    """(start, end, from, to) — default: the last 30 days up to and including today, in
    London days."""
    today = datetime.now(LONDON).date()
    frm = since or (today - timedelta(days=30)).isoformat()
    to = until or today.isoformat()
    lo, hi = service.period(frm, to)
    return lo, hi, frm, to


# ---------------------------------------------------------------------------- API
@api.get("/meetings/{meeting_id}", summary="Meeting compliance report (signed file)")
async def meeting_report(request: Request, meeting_id: IdPath, who: Reporter,
                         format: Format = "json") -> Response:
    db, settings = database(request), _settings(request)
    doc, data = await run_in_threadpool(service.report_file, db, settings, "meeting", format,
                                        actor=who.username, meeting_id=meeting_id)
    return _download(doc, format, data)


@api.get("/members/{member_id}", summary="One member across a period (signed file)")
async def member_report(request: Request, member_id: IdPath, who: Officer,
                        from_: Annotated[DateQ, Query(alias="from")] = None,
                        to: DateQ = None, format: Format = "json") -> Response:
    lo, hi, _, _ = _range(from_, to)
    db, settings = database(request), _settings(request)
    doc, data = await run_in_threadpool(service.report_file, db, settings, "member", format,
                                        actor=who.username, member=member_id, since=lo,
                                        until=hi)
    return _download(doc, format, data)


@api.get("/site", summary="Site summary over a period (signed file)")
async def site_report(request: Request, who: Reporter,
                      from_: Annotated[DateQ, Query(alias="from")] = None,
                      to: DateQ = None, format: Format = "json") -> Response:
    lo, hi, _, _ = _range(from_, to)
    db, settings = database(request), _settings(request)
    doc, data = await run_in_threadpool(service.report_file, db, settings, "site", format,
                                        actor=who.username, since=lo, until=hi)
    return _download(doc, format, data)


@api.post("/verify", summary="Verify a signed report (request body: the file)")
async def verify(request: Request, _: Reporter) -> dict[str, Any]:
    data = await request.body()
    if len(data) > MAX_UPLOAD:
        raise Invalid("file too large to be a report")
    db, settings = database(request), _settings(request)
    v = await run_in_threadpool(service.verify_file, data, settings, db)
    return v.as_dict()


@api.get("/chain", summary="Verify the event hash chain")
async def verify_chain(request: Request, _: ChainReader) -> dict[str, object]:
    rep = await run_in_threadpool(service.verify_events, database(request),
                                  _settings(request))
    return rep.as_dict()


@api.get("/subject-access/{member_id}", summary="Everything held about a member")
async def subject_access(request: Request, member_id: IdPath, who: Officer,
                         format: Literal["json", "csv"] = "json") -> Response:
    db, settings = database(request), _settings(request)
    doc, data = await run_in_threadpool(service.subject_access, db, settings, member_id,
                                        format, actor=who.username)
    name = f"chamberguard-subject-access-{member_id}.{format}"
    return Response(data, media_type=render.MEDIA[format],
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


# ---------------------------------------------------------------------------- pages
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
    ctx = {"who": getattr(request.state, "principal", None), **ctx}
    resp: HTMLResponse = templates.TemplateResponse(request, "page.html", ctx)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@pages.get("/static/report.css")
def report_css(_: PageReporter) -> Response:
    return Response(render.css(), media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=3600"})


@pages.get("/meetings/{meeting_id}", response_class=HTMLResponse)
async def meeting_page(request: Request, meeting_id: IdPath, who: PageReporter) -> Response:
    db, settings = database(request), _settings(request)
    try:
        doc = await run_in_threadpool(service.build, db, settings, "meeting",
                                      actor=who.username, meeting_id=meeting_id)
    except NotFound as exc:
        raise PageError(404, exc.message) from None
    base = f"/api/v1/reports/meetings/{meeting_id}"
    return _page(request, {"doc": doc, "body": "_meeting_body.html", "downloads": base,
                           "query": ""})


def _members(request: Request) -> list[tuple[int, str]]:
    with database(request).session() as s:
        return [(i, n) for i, n in s.execute(select(Member.id, Member.name)
                                             .order_by(Member.name))]


@pages.get("/members", response_class=HTMLResponse)
async def member_page(request: Request, who: PageOfficer,
                      member_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                      from_: Annotated[DateQ, Query(alias="from")] = None,
                      to: DateQ = None) -> Response:
    db, settings = database(request), _settings(request)
    members = await run_in_threadpool(_members, request)
    lo, hi, frm, until = _range(from_, to)
    ctx: dict[str, Any] = {"form": "member", "members": members, "member_id": member_id,
                           "from": frm, "to": until, "doc": None}
    if member_id is not None:
        try:
            ctx["doc"] = await run_in_threadpool(service.build, db, settings, "member",
                                                 actor=who.username, member=member_id,
                                                 since=lo, until=hi)
        except NotFound as exc:
            raise PageError(404, exc.message) from None
        ctx["body"] = "_member_body.html"
        ctx["downloads"] = f"/api/v1/reports/members/{member_id}"
        ctx["query"] = f"&from={ctx['from']}&to={ctx['to']}"
    return _page(request, ctx)


@pages.get("/site", response_class=HTMLResponse)
async def site_page(request: Request, who: PageReporter,
                    from_: Annotated[DateQ, Query(alias="from")] = None,
                    to: DateQ = None) -> Response:
    db, settings = database(request), _settings(request)
    lo, hi, frm, until = _range(from_, to)
    doc = await run_in_threadpool(service.build, db, settings, "site", actor=who.username,
                                  since=lo, until=hi)
    return _page(request, {"form": "site", "doc": doc, "body": "_site_body.html",
                           "downloads": "/api/v1/reports/site", "from": frm, "to": until,
                           "query": f"&from={frm}&to={until}"})


@pages.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request, who: PageReporter) -> Response:
    """The monitoring officer's (and clerk's) verify-by-upload page."""
    return _verify_page(request, None, None)


@pages.post("/verify", response_class=HTMLResponse)
async def verify_upload(request: Request, who: PageReporter,
                        file: Annotated[UploadFile, File()]) -> Response:
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _verify_page(request, service.Verification(False, "file too large to be a "
                                                          "report"), file.filename, 413)
    db, settings = database(request), _settings(request)
    try:
        v = await run_in_threadpool(service.verify_file, data, settings, db)
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


router.include_router(api)
router.include_router(pages)
