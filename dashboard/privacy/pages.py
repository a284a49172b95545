"""The privacy kit's pages: the DPIA draft (IT and the monitoring officer) and the members'
notice (anyone signed in, to print). Each is one click from the IT overview; the notice is
also served, without a login, on the chamber-side registration listener
(dashboard/registration.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.auth.deps import database
from api.auth.roles import LIVE_VIEW, PRIVACY
from api.privacy.facts import Facts, gather
from api.users.service import Principal
from dashboard.privacy import render
from dashboard.web import page
from monitor.settings import Settings

router = APIRouter(include_in_schema=False)
Officer = Annotated[Principal, Depends(page(PRIVACY))]
Viewer = Annotated[Principal, Depends(page(LIVE_VIEW))]
Format = Annotated[str, Query(pattern="^(html|md|pdf)$", max_length=4)]
FILENAME = {"dpia": "dpia-draft", "notice": "notice-for-members"}


def facts(request: Request) -> Facts:
    settings: Settings = request.app.state.settings
    with database(request).session() as s:
        return gather(s, settings)


def respond(name: str, fmt: str, data: bytes) -> Response:
    headers = {"Cache-Control": "no-store"}
    if fmt == "html":
        headers["Content-Security-Policy"] = render.csp()
    else:
        headers["Content-Disposition"] = f'attachment; filename="{FILENAME[name]}.{fmt}"'
    return Response(data, media_type=render.MEDIA[fmt], headers=headers)


@router.get("/privacy/dpia")
async def dpia(request: Request, who: Officer, format: Format = "html") -> Response:
    f = await run_in_threadpool(facts, request)
    return respond("dpia", format, await run_in_threadpool(render.dpia, f, format))


@router.get("/privacy/notice")
async def notice(request: Request, who: Viewer, format: Format = "html") -> Response:
    f = await run_in_threadpool(facts, request)
    return respond("notice", format, await run_in_threadpool(render.notice, f, format))
