"""IT's overview (readiness, counts, retention) and the site mode switch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allowlist.categories import Mode
from api.devices import service as devices
from api.errors import Invalid, ServiceError
from api.session import DbSession, attempt
from api.site.service import mode_view, set_mode
from dashboard import queries as q
from dashboard.admin.common import Admin, base, confirm, redirect_done, settings_of
from dashboard.counters import counter_rows, named_counters
from dashboard.web import render
from monitor.evidence.privacy import LEVEL_TEXT
from monitor.evidence.retention import retention_status
from monitor.store.models import Device, Member, RuleRow

router = APIRouter(include_in_schema=False)


def _overview(request: Request, s: Session, *, done_code: str | None = None,
              error: str | None = None, status: int = 200) -> Response:
    settings = settings_of(request)
    now = datetime.now(UTC)
    site = q.site_view(s, settings, now)
    upcoming = q.upcoming_meetings(s, settings, now, limit=1)
    counts = {
        "members": s.execute(select(func.count()).select_from(Member)
                             .where(Member.active.is_(True))).scalar_one(),
        "devices": s.execute(select(func.count()).select_from(Device)
                             .where(Device.member_id.is_not(None))).scalar_one(),
        "unregistered": devices.unregistered_seen(s, limit=1, offset=0)[1],
        "rules": s.execute(select(func.count()).select_from(RuleRow)).scalar_one(),
    }
    ctx = base("overview", done_code, error)
    ctx.update(site=site, checks=q.readiness(s, settings, site, upcoming[0] if upcoming
                                             else None),
               mode=mode_view(s, settings=settings), counts=counts,
               retention=retention_status(s.connection(), settings),
               privacy_text=LEVEL_TEXT[site.privacy_level],
               counters=counter_rows(named_counters(site.gate)))
    return render(request, "admin/overview.html", ctx, status=status)


@router.get("/admin", response_class=HTMLResponse)
def overview(request: Request, s: DbSession, who: Admin, done: str | None = None) -> Response:
    return _overview(request, s, done_code=done)


@router.post("/admin/site/mode", response_class=HTMLResponse)
def site_mode(request: Request, s: DbSession, who: Admin,
              mode: Annotated[str, Form(max_length=20)],
              confirmed: Annotated[str, Form(max_length=5)] = "0") -> Response:
    if mode == Mode.MONITOR_ONLY.value and confirmed != "1":
        return confirm(request, title="Switch to monitor-only?",
                       message="Nothing will be blocked in any meeting until you switch back; "
                               "attempts are still recorded, and the dashboard and reports "
                               "say so.",
                       action="/admin/site/mode", fields={"mode": mode},
                       yes="Yes, switch to monitor-only", back="/admin")
    try:
        with attempt(s):
            try:
                set_mode(s, mode=mode, settings=settings_of(request), actor=who.username)
            except ValueError:
                raise Invalid(f"unknown mode {mode!r}") from None
    except ServiceError as exc:
        return _overview(request, s, error=exc.message, status=exc.status)
    return redirect_done("/admin", "mode")
