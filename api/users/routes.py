"""User accounts (IT admins). Passwords go in, never come out; hashes are argon2id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.auth.deps import require
from api.auth.roles import CONFIGURE
from api.pagination import Page, Paging
from api.session import DbSession
from api.users import schemas, service
from api.users.service import Principal
from api.validation import IdPath

router = APIRouter(prefix="/api/v1/users", tags=["users"])
Admin = Annotated[Principal, Depends(require(CONFIGURE))]


@router.get("")
def list_users(s: DbSession, _: Admin, page: Paging) -> Page[schemas.UserOut]:
    rows, total = service.list_users(s, limit=page.limit, offset=page.offset)
    items = [schemas.UserOut.model_validate(u) for u in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=201)
def create_user(s: DbSession, body: schemas.UserIn, who: Admin) -> schemas.UserOut:
    u = service.create_user(s, username=body.username, password=body.password,
                            role=body.role, actor=who.username)
    return schemas.UserOut.model_validate(u)


@router.get("/{user_id}")
def get_user(s: DbSession, user_id: IdPath, _: Admin) -> schemas.UserOut:
    return schemas.UserOut.model_validate(service.get_user(s, user_id=user_id))


@router.patch("/{user_id}")
def update_user(request: Request, s: DbSession, user_id: IdPath, body: schemas.UserPatch,
                who: Admin) -> schemas.UserOut:
    u = service.update_user(s, user_id=user_id, actor=who.username, role=body.role,
                            disabled=body.disabled, password=body.password,
                            unlock=body.unlock)
    if body.unlock:  # lift the login backoff for this account, from every address
        request.app.state.account_throttle.forget_account(u.username)
    return schemas.UserOut.model_validate(u)


@router.post("/{user_id}/logout-everywhere", status_code=204)
def logout_user_everywhere(s: DbSession, user_id: IdPath, who: Admin) -> Response:
    """End all of a user's sessions and tokens (a lost laptop, a leaver)."""
    service.get_user(s, user_id=user_id)
    service.logout_everywhere(s, user_id=user_id, actor=who.username)
    return Response(status_code=204)
