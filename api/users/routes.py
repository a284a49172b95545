"""User accounts (IT admins). Passwords go in, never come out; hashes are argon2id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.auth.deps import require
from api.auth.roles import CONFIGURE
from api.pagination import Page, Paging
from api.session import DbSession
from api.users import schemas, service
from api.users.service import Principal
from api.validation import IdPath
from monitor.store.models import User

router = APIRouter(prefix="/api/v1/users", tags=["users"])
Admin = Annotated[Principal, Depends(require(CONFIGURE))]


def _out(request: Request, u: User) -> schemas.UserOut:
    """The account as IT sees it: ``locked_until`` is when the login backoff after failed
    sign-ins ends (the throttle's, from the source that waits longest; None: not locked)."""
    out = schemas.UserOut.model_validate(u)
    wait = request.app.state.account_throttle.waiting(out.username)
    out.locked_until = (datetime.now(UTC) + timedelta(seconds=wait)) if wait else None
    return out


@router.get("")
def list_users(request: Request, s: DbSession, _: Admin,
               page: Paging) -> Page[schemas.UserOut]:
    rows, total = service.list_users(s, limit=page.limit, offset=page.offset)
    items = [_out(request, u) for u in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=201)
def create_user(request: Request, s: DbSession, body: schemas.UserIn,
                who: Admin) -> schemas.UserOut:
    u = service.create_user(s, username=body.username, password=body.password,
                            role=body.role, actor=who.username)
    return _out(request, u)


@router.get("/{user_id}")
def get_user(request: Request, s: DbSession, user_id: IdPath, _: Admin) -> schemas.UserOut:
    return _out(request, service.get_user(s, user_id=user_id))


@router.patch("/{user_id}")
def update_user(request: Request, s: DbSession, user_id: IdPath, body: schemas.UserPatch,
                who: Admin) -> schemas.UserOut:
    u = service.update_user(s, user_id=user_id, actor=who.username, role=body.role,
                            disabled=body.disabled, password=body.password,
                            unlock=body.unlock)
    if body.unlock:  # lift the login backoff for this account, from every address
        request.app.state.account_throttle.forget_account(u.username)
    return _out(request, u)


@router.post("/{user_id}/logout-everywhere", status_code=204)
def logout_user_everywhere(s: DbSession, user_id: IdPath, who: Admin) -> Response:
    """End all of a user's sessions and tokens (a lost laptop, a leaver)."""
    service.get_user(s, user_id=user_id)
    service.logout_everywhere(s, user_id=user_id, actor=who.username)
    return Response(status_code=204)
