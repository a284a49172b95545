"""IT's meeting edit page: times and room, cancel, delete a manual meeting (issue 21)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from allowlist.clock import LONDON
from api.auth.roles import CONFIGURE
from api.errors import Invalid, ServiceError
from api.meetings import edit
from api.session import DbSession, attempt
from api.users.service import Principal
from api.validation import IdPath
from dashboard import queries as q
from dashboard.web import PageError, page, render
from monitor.settings import Settings

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(page(CONFIGURE))]


def _london(day: str, hhmm: str, what: str) -> datetime:
    try:
        d = datetime.strptime(f"{day} {hhmm}", "%Y-%m-%d %H:%M")
    except ValueError:
        raise Invalid(f"the {what} must be a date and a time (HH:MM)") from None
    return d.replace(tzinfo=LONDON).astimezone(UTC)


def _form(request: Request, s: Session, meeting_id: int, *, error: str | None = None,
          status: int = 200) -> Response:
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    m = q.get_meeting(s, meeting_id)
    if m is None:
        raise PageError(404, f"There is no meeting {meeting_id}.")
    view = q.meeting_view(m, grace=timedelta(minutes=settings.policy.grace_minutes),
                          now=now)
    start, end = view.start.astimezone(LONDON), view.end.astimezone(LONDON)
    return render(request, "admin/meeting_edit.html", {
        "meeting": view, "source": m.source, "error": error,
        "form": {"day": f"{start:%Y-%m-%d}", "start": f"{start:%H:%M}",
                 "end_day": f"{end:%Y-%m-%d}", "end": f"{end:%H:%M}",
                 "room": m.room or ""}}, status=status)


@router.get("/admin/meetings/{meeting_id}/edit", response_class=HTMLResponse)
def edit_page(request: Request, s: DbSession, meeting_id: IdPath, who: Admin) -> Response:
    return _form(request, s, meeting_id)


def _change(request: Request, s: Session, meeting_id: int, change: Callable[[], object], *,
            done: str) -> Response:
    """Apply one change to a meeting: back to the list on success; on a refusal, the form
    again with the reason, the database as it was."""
    try:
        with attempt(s):
            change()
    except ServiceError as exc:
        return _form(request, s, meeting_id, error=exc.message, status=exc.status)
    return RedirectResponse(f"/admin/meetings?done={done}", status_code=303)


@router.post("/admin/meetings/{meeting_id}/edit", response_class=HTMLResponse)
def edit_meeting(
    request: Request, s: DbSession, meeting_id: IdPath, who: Admin,
    day: Annotated[str, Form(max_length=20)], start: Annotated[str, Form(max_length=10)],
    end_day: Annotated[str, Form(max_length=20)], end: Annotated[str, Form(max_length=10)],
    room: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    def change() -> None:
        starts, ends = _london(day, start, "start"), _london(end_day, end, "end")
        edit.update_meeting(s, meeting_id=meeting_id, start=starts, end=ends, room=room,
                            actor=who.username)

    return _change(request, s, meeting_id, change, done="meeting-updated")


@router.post("/admin/meetings/{meeting_id}/cancel", response_class=HTMLResponse)
def cancel(request: Request, s: DbSession, meeting_id: IdPath, who: Admin) -> Response:
    return _change(request, s, meeting_id, lambda: edit.cancel_meeting(
        s, meeting_id=meeting_id, actor=who.username), done="meeting-cancelled")


@router.post("/admin/meetings/{meeting_id}/delete", response_class=HTMLResponse)
def remove(request: Request, s: DbSession, meeting_id: IdPath, who: Admin) -> Response:
    return _change(request, s, meeting_id, lambda: edit.delete_meeting(
        s, meeting_id=meeting_id, actor=who.username), done="meeting-deleted")
