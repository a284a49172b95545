"""One device's page for IT: what it is, the unlisted names it was refused recently (kept
``[retention] refused_names_hours``) with "Allow this host", and learn mode (issue 21)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from api.auth.roles import CONFIGURE
from api.errors import ServiceError
from api.learn.service import MAX_MINUTES, start_learning, stop_learning
from api.session import DbSession, attempt
from api.users.service import Principal
from api.validation import IdPath
from dashboard.queries import aware
from dashboard.web import PageError, page, render
from monitor.settings import Settings
from monitor.store.models import Device, LearnedName, LearnSession, Member, RefusedNameRow

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(page(CONFIGURE))]
DONE = {"learn-started": "Learn mode started for this device.",
        "learn-stopped": "Learn mode stopped."}


def allow_link(name: str, device: str) -> str:
    return "/admin/allowlist?" + urlencode(
        {"propose": name, "note": f"Needed by {device} (refused as unlisted)"}) + "#add-rule-h"


@router.get("/admin/devices/{device_id}", response_class=HTMLResponse)
def device_page(request: Request, s: DbSession, device_id: IdPath, who: Admin,
                done: str | None = None, error: str | None = None) -> Response:
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    keep = settings.retention.refused_names_hours
    d = s.get(Device, device_id)
    if d is None:
        raise PageError(404, f"There is no device {device_id}.")
    member = s.get(Member, d.member_id) if d.member_id else None
    refused = list(s.execute(
        select(RefusedNameRow).where(RefusedNameRow.device_id == d.id,
                                     RefusedNameRow.last_seen >= now - timedelta(hours=keep))
        .order_by(RefusedNameRow.last_seen.desc()).limit(200)).scalars())
    learn = s.execute(select(LearnSession).where(LearnSession.device_id == d.id)
                      .order_by(LearnSession.id.desc())).scalars().first()
    learning = learn is not None and aware(learn.until) > now
    learned = [] if learn is None else list(s.execute(
        select(LearnedName).where(LearnedName.session_id == learn.id)
        .order_by(LearnedName.lookups.desc()).limit(100)).scalars())
    label = d.label or d.mac
    return render(request, "admin/device.html", {
        "d": d, "member": member, "refused": refused, "keep_hours": keep,
        "allow": {r.name: allow_link(r.name, label) for r in refused},
        "learn": learn, "learning": learning, "learned": learned,
        "max_minutes": MAX_MINUTES, "done": DONE.get(done or ""), "error": error})


@router.post("/admin/devices/{device_id}/learn", response_class=HTMLResponse)
def learn(request: Request, s: DbSession, device_id: IdPath, who: Admin,
          minutes: Annotated[int, Form(ge=0, le=24 * 60)] = 30) -> Response:
    """Start (``minutes`` > 0) or stop (0) learn mode for this device."""
    try:
        with attempt(s):
            d = s.get(Device, device_id)
            if d is None:
                raise PageError(404, f"There is no device {device_id}.")
            if minutes:
                start_learning(s, mac=d.mac, minutes=minutes, actor=who.username)
            else:
                stop_learning(s, mac=d.mac, actor=who.username)
    except ServiceError as exc:
        return device_page(request, s, device_id, who, error=exc.message)
    done = "learn-started" if minutes else "learn-stopped"
    return RedirectResponse(f"/admin/devices/{device_id}?done={done}", status_code=303)
