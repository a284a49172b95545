"""Report routes: the JSON API (``/api/v1/reports/…``) and the report pages (``/reports/…``).

API — every download is a signed file (see api.reports.signing), entered in the
register of issued reports:

    GET  /api/v1/reports/meetings/{id}?format=json|html|pdf|csv|lookups  clerk, officer
    GET  /api/v1/reports/members/{id}?from=&to=&format=…             monitoring officer
    GET  /api/v1/reports/site?from=&to=&format=…                     clerk, monitoring officer
    POST /api/v1/reports/verify          (body: the file)            clerk, monitoring officer
    GET  /api/v1/reports/chain           verify the event chain      monitoring officer, IT
    GET  /api/v1/reports/subject-access/{member_id}?format=json|csv  monitoring officer

The report pages and the HTML and PDF downloads, drawn from the same document, are the
dashboard's (dashboard.reports.routes).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from allowlist.clock import LONDON
from api.auth.deps import database, require
from api.auth.roles import REPORTS, Role
from api.errors import Invalid
from api.reports import formats, service
from api.users.service import Principal
from api.validation import IdPath
from monitor.settings import Settings

# A member's record across meetings and everything held about them: the officer's alone.
OFFICER = frozenset({Role.MONITORING_OFFICER})
CHAIN = frozenset({Role.MONITORING_OFFICER, Role.IT_ADMIN})
Format = Literal["json", "csv", "lookups"]
MAX_UPLOAD = 2 * 1024 * 1024  # the app's body limit; a report is far smaller

api = APIRouter(prefix="/api/v1/reports", tags=["reports"])
router = api

Reporter = Annotated[Principal, Depends(require(REPORTS))]
Officer = Annotated[Principal, Depends(require(OFFICER))]
ChainReader = Annotated[Principal, Depends(require(CHAIN))]
DateQ = Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD (London) or ISO "
                                                                "8601")]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def download(doc: dict[str, Any], fmt: str, data: bytes,
             headers: dict[str, str] | None = None) -> Response:
    """A signed report file as an attachment (also the dashboard's HTML and PDF)."""
    head = {"Content-Disposition": f'attachment; filename="{formats.filename(doc, fmt)}"',
            "Cache-Control": "no-store", **(headers or {})}
    return Response(data, media_type=formats.MEDIA[fmt], headers=head)


def date_range(since: str | None, until: str | None
               ) -> tuple[datetime, datetime, str, str]:
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
    doc, data = await run_in_threadpool(service.report_file, db=db, settings=settings,
                                        kind="meeting", fmt=format,
                                        actor=who.username, meeting_id=meeting_id)
    return download(doc, format, data)


@api.get("/members/{member_id}", summary="One member across a period (signed file)")
async def member_report(request: Request, member_id: IdPath, who: Officer,
                        from_: Annotated[DateQ, Query(alias="from")] = None,
                        to: DateQ = None, format: Format = "json") -> Response:
    lo, hi, _, _ = date_range(from_, to)
    db, settings = database(request), _settings(request)
    doc, data = await run_in_threadpool(service.report_file, db=db, settings=settings,
                                        kind="member", fmt=format,
                                        actor=who.username, member=member_id, since=lo,
                                        until=hi)
    return download(doc, format, data)


@api.get("/site", summary="Site summary over a period (signed file)")
async def site_report(request: Request, who: Reporter,
                      from_: Annotated[DateQ, Query(alias="from")] = None,
                      to: DateQ = None, format: Format = "json") -> Response:
    lo, hi, _, _ = date_range(from_, to)
    db, settings = database(request), _settings(request)
    doc, data = await run_in_threadpool(service.report_file, db=db, settings=settings,
                                        kind="site", fmt=format,
                                        actor=who.username, since=lo, until=hi)
    return download(doc, format, data)


@api.post("/verify", summary="Verify a signed report (request body: the file)")
async def verify(request: Request, _: Reporter) -> dict[str, Any]:
    data = await request.body()
    if len(data) > MAX_UPLOAD:
        raise Invalid("file too large to be a report")
    db, settings = database(request), _settings(request)
    v = await run_in_threadpool(service.verify_file, data=data, settings=settings,
                                  db=db)
    return v.as_dict()


@api.get("/chain", summary="Verify the event hash chain")
async def verify_chain(request: Request, _: ChainReader) -> dict[str, object]:
    rep = await run_in_threadpool(service.verify_events, db=database(request),
                                  settings=_settings(request))
    return rep.as_dict()


@api.get("/subject-access/{member_id}", summary="Everything held about a member")
async def subject_access(request: Request, member_id: IdPath, who: Officer,
                         format: Literal["json", "csv"] = "json") -> Response:
    db, settings = database(request), _settings(request)
    doc, data = await run_in_threadpool(service.subject_access, db=db, settings=settings,
                                        member=member_id, fmt=format, actor=who.username)
    name = f"chamberguard-subject-access-{member_id}.{format}"
    return Response(data, media_type=formats.MEDIA[format],
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})
