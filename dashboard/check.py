""""Check the chamber now": the clerk's and IT's pre-meeting check (/check).

The web never runs the check: the gate does, from where members' devices are (its decision
chain, its upstream, its firewall and sensor). This page adds a request row
(:mod:`monitor.check.requests`), then shows the gate's progress and its green/red lines as
they arrive (check.js polls the fragment; without JavaScript, a link reloads it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth.deps import database
from api.auth.roles import CHAMBER_CHECK
from api.users.service import Principal
from api.validation import IdPath
from dashboard.web import PageError, page, render
from monitor.check import requests
from monitor.check.model import RequestState, Status
from monitor.settings import Settings

router = APIRouter(include_in_schema=False)
Checker = Annotated[Principal, Depends(page(CHAMBER_CHECK))]


@dataclass(frozen=True, slots=True)
class ShownLine:
    """One line as the shared check-list macro draws it."""

    name: str
    status: str
    text: str


@dataclass(frozen=True, slots=True)
class Shown:
    view: requests.CheckView
    lines: tuple[ShownLine, ...]

    @property
    def finished(self) -> bool:
        return self.view.finished

    @property
    def ok(self) -> bool:
        return self.view.ok


def shown(v: requests.CheckView) -> Shown:
    if v.state is RequestState.UNANSWERED:
        return Shown(v, (ShownLine("Gate", Status.FAIL.value, requests.unanswered_text(v)),))
    return Shown(v, tuple(ShownLine(ln.title, ln.status.value, ln.text) for ln in v.lines))


def _room(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.site.room


async def _load(request: Request, check_id: int) -> Shown:
    def _read() -> requests.CheckView | None:
        with database(request).session() as s:
            return requests.read(s, check_id, datetime.now(UTC))

    v = await run_in_threadpool(_read)
    if v is None:
        raise PageError(404, f"There is no check {check_id}.")
    return shown(v)


@router.get("/check", response_class=HTMLResponse)
async def check_page(request: Request, who: Checker) -> Response:
    return render(request, "check.html", {"result": None})


@router.post("/check")
async def check_ask(request: Request, who: Checker) -> Response:
    """Ask the room's gate to check; the answer is followed on /check/{id}."""
    room = _room(request)

    def _ask() -> int:
        with database(request).session() as s:
            return requests.ask(s, room, who.username, datetime.now(UTC))

    cid = await run_in_threadpool(_ask)
    return RedirectResponse(f"/check/{cid}", status_code=303)


@router.get("/check/{check_id}", response_class=HTMLResponse)
async def check_result(request: Request, check_id: IdPath, who: Checker) -> Response:
    return render(request, "check.html", {"result": await _load(request, check_id)})


@router.get("/check/{check_id}/fragment", response_class=HTMLResponse)
async def check_fragment(request: Request, check_id: IdPath, who: Checker) -> Response:
    return render(request, "_check_result.html", {"result": await _load(request, check_id)})
