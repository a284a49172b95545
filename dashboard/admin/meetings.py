"""The meetings page: the list, a manual meeting, file import, sync and committee scope.
(Editing, cancelling and deleting one meeting: dashboard/meetings_edit.py.)"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from allowlist.clock import LONDON
from api.errors import Invalid, ServiceError
from api.meetings import service as meetings
from api.meetings import sync as meetings_sync
from api.meetings.sources.detect import parse_document
from api.meetings.sources.model import SourceError
from api.session import DbSession, attempt
from dashboard import queries as q
from dashboard.admin.common import Admin, base, redirect_done, settings_of, upload_bytes
from dashboard.web import render

router = APIRouter(include_in_schema=False)


def _meetings(request: Request, s: Session, *, done_code: str | None = None,
              error: str | None = None, status: int = 200,
              result: Mapping[str, Any] | None = None,
              form: Mapping[str, str] | None = None) -> Response:
    settings = settings_of(request)
    now = datetime.now(UTC)
    grace = timedelta(minutes=settings.policy.grace_minutes)
    rows, total = meetings.search_meetings(s, limit=100, offset=0,
                                           start=now - timedelta(days=1))
    ctx = base("meetings", done_code, error)
    ctx.update(meetings=[q.meeting_view(m, grace=grace, now=now) for m in rows
                         if m.removed_at is None],
               total=total, committees=meetings_sync.list_committees(s, settings=settings),
               result=result, form=form or {}, source=settings.meetings.moderngov_url
               or settings.meetings.ical_url, room=settings.site.room)
    return render(request, "admin/meetings.html", ctx, status=status)


@router.get("/admin/meetings", response_class=HTMLResponse)
def meetings_page(request: Request, s: DbSession, who: Admin,
                  done: str | None = None) -> Response:
    return _meetings(request, s, done_code=done)


@router.post("/admin/meetings/import", response_class=HTMLResponse)
def import_meetings(request: Request, s: DbSession, who: Admin,
                    file: Annotated[UploadFile | None, File()] = None) -> Response:
    """A modern.gov XML or iCalendar file: parsed whole first; any problem → nothing
    imported, and the page says what is wrong and where."""
    settings = settings_of(request)
    try:
        data = upload_bytes(file)
        if data is None or file is None:
            raise Invalid("choose a file to import (modern.gov XML or iCalendar)")
        try:
            parsed = parse_document(data, content_type=file.content_type)
        except SourceError as exc:
            raise Invalid(f"{file.filename}: {exc}") from None
        with attempt(s):
            result = meetings_sync.import_meetings(s, meetings=parsed, settings=settings,
                                                   actor=who.username,
                                                   source_label=f"upload {file.filename}")
            data_out = result.as_dict()
    except ServiceError as exc:
        return _meetings(request, s, error=f"Nothing imported: {exc.message}",
                         status=exc.status)
    return _meetings(request, s, result=data_out)


@router.post("/admin/meetings/sync", response_class=HTMLResponse)
def sync_now(request: Request, s: DbSession, who: Admin) -> Response:
    settings = settings_of(request)
    try:
        with attempt(s):
            try:
                result = meetings_sync.sync(s, settings=settings, actor=who.username)
            except SourceError as exc:
                raise Invalid(str(exc)) from None
            data = result.as_dict()
    except ServiceError as exc:
        return _meetings(request, s, error=f"Sync failed, nothing changed: {exc.message}",
                         status=exc.status)
    return _meetings(request, s, result=data)


@router.post("/admin/meetings/scope", response_class=HTMLResponse)
def committee_scope(request: Request, s: DbSession, who: Admin,
                    committee: Annotated[str, Form(max_length=300)],
                    scope: Annotated[str, Form(max_length=10)]) -> Response:
    choice = {"in": True, "out": False, "default": None}
    try:
        if scope not in choice:
            raise Invalid("choose in scope, out of scope or the default")
        with attempt(s):
            meetings_sync.set_committee_scope(s, committee_title_or_id=committee,
                                              in_scope=choice[scope], actor=who.username,
                                              settings=settings_of(request))
    except ServiceError as exc:
        return _meetings(request, s, error=exc.message, status=exc.status)
    return redirect_done("/admin/meetings", "scope")


def _london_time(day: str, hhmm: str, what: str) -> datetime:
    try:
        d = date.fromisoformat(day)
        t = time.fromisoformat(hhmm)
    except ValueError:
        raise Invalid(f"the {what} is not a date and time (e.g. 2026-11-26 and 19:30)") from None
    if not 1900 <= d.year <= 2999:
        raise Invalid("the date must be between the years 1900 and 2999")
    return datetime.combine(d, t, tzinfo=LONDON).astimezone(UTC)


@router.post("/admin/meetings", response_class=HTMLResponse)
def add_meeting(
    request: Request, s: DbSession, who: Admin,
    title: Annotated[str, Form(max_length=300)],
    day: Annotated[str, Form(max_length=20)],
    start: Annotated[str, Form(max_length=10)],
    end: Annotated[str, Form(max_length=10)],
    committee: Annotated[str, Form(max_length=300)] = "",
    room: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        starts = _london_time(day, start, "start")
        ends = _london_time(day, end, "end")
        with attempt(s):
            meetings.create_meeting(s, title=title, start=starts, end=ends,
                                    committee_title=committee.strip(),
                                    room=room.strip() or None, actor=who.username)
    except ServiceError as exc:
        return _meetings(request, s, error=exc.message, status=exc.status,
                         form={"title": title, "day": day, "start": start, "end": end,
                               "committee": committee, "room": room})
    return redirect_done("/admin/meetings", "meeting-added")
