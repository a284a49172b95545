"""Meetings: everyone who may log in sees them; IT adds manual ones; the clerk runs them.

(Importing from modern.gov / iCalendar lives with the meetings sync, not here.)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from allowlist.clock import ClerkAction
from api.auth.deps import require
from api.auth.roles import CLERK_ACTIONS, CONFIGURE, LIVE_VIEW
from api.meetings import schemas, service
from api.pagination import Page, Paging
from api.session import DbSession
from api.users.service import Principal
from api.validation import IdPath, Time

router = APIRouter(prefix="/api/v1/meetings", tags=["meetings"])


def _grace(request: Request) -> timedelta:
    return timedelta(minutes=request.app.state.settings.policy.grace_minutes)


@router.get("")
def list_meetings(
    request: Request, s: DbSession,
    _: Annotated[Principal, Depends(require(LIVE_VIEW))],
    page: Paging,
    start: Annotated[Time | None, Query(description="ending at or after this time")] = None,
    end: Annotated[Time | None, Query(description="starting at or before this time")] = None,
    room: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    in_scope: bool | None = None,
) -> Page[schemas.MeetingOut]:
    rows, total = service.search_meetings(s, limit=page.limit, offset=page.offset,
                                          start=start, end=end, room=room, status=status,
                                          in_scope=in_scope)
    items = [service.meeting_dict(m, grace=_grace(request)) for m in rows]
    return Page(items=[schemas.MeetingOut.model_validate(i) for i in items], total=total,
                limit=page.limit, offset=page.offset)


@router.post("", status_code=201)
def create_meeting(request: Request, s: DbSession, body: schemas.MeetingIn,
                   who: Annotated[Principal, Depends(require(CONFIGURE))]) -> schemas.MeetingOut:
    m = service.create_meeting(s, title=body.title, start=body.start, end=body.end,
                               room=body.room, committee_title=body.committee_title,
                               actor=who.username)
    m = service.get_meeting(s, meeting_id=m.id)
    return schemas.MeetingOut.model_validate(service.meeting_dict(m, grace=_grace(request)))


@router.get("/{meeting_id}")
def get_meeting(request: Request, s: DbSession, meeting_id: IdPath,
                _: Annotated[Principal, Depends(require(LIVE_VIEW))]) -> schemas.MeetingOut:
    m = service.get_meeting(s, meeting_id=meeting_id)
    return schemas.MeetingOut.model_validate(service.meeting_dict(m, grace=_grace(request)))


@router.post("/{meeting_id}/{action}")
def clerk_action(request: Request, s: DbSession, meeting_id: IdPath, action: ClerkAction,
                 who: Annotated[Principal, Depends(require(CLERK_ACTIONS))]) -> schemas.MeetingOut:
    """The clerk starts, adjourns, resumes or ends a meeting; it overrides the schedule."""
    grace = _grace(request)
    m = service.clerk_action(s, meeting_id=meeting_id, action=action, actor=who.username,
                             grace=grace, settings=request.app.state.settings)
    return schemas.MeetingOut.model_validate(service.meeting_dict(m, grace=grace))
