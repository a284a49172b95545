"""Members (CRUD, IT admins). Changes are audited and bump the policy revision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.auth.deps import require
from api.auth.roles import CONFIGURE
from api.members import schemas, service
from api.pagination import Page, Paging
from api.session import DbSession
from api.users.service import Principal
from api.validation import IdPath

router = APIRouter(prefix="/api/v1/members", tags=["members"])
Admin = Annotated[Principal, Depends(require(CONFIGURE))]


@router.get("")
def list_members(
    s: DbSession, _: Admin, page: Paging, active: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="part of the name")] = None,
) -> Page[schemas.MemberOut]:
    rows, total = service.page_members(s, limit=page.limit, offset=page.offset,
                                       active=active, search=q)
    items = [schemas.MemberOut.model_validate(m) for m in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=201)
def create_member(s: DbSession, body: schemas.MemberIn, who: Admin) -> schemas.MemberOut:
    m = service.create_member(s, name=body.name, email=body.email, actor=who.username)
    return schemas.MemberOut.model_validate(m)


@router.get("/{member_id}")
def get_member(s: DbSession, member_id: IdPath, _: Admin) -> schemas.MemberOut:
    return schemas.MemberOut.model_validate(service.get_member(s, member_id=member_id))


@router.patch("/{member_id}")
def update_member(s: DbSession, member_id: IdPath, body: schemas.MemberPatch,
                  who: Admin) -> schemas.MemberOut:
    clear_email = "email" in body.model_fields_set and body.email is None
    m = service.update_member(s, member_id=member_id, actor=who.username, name=body.name,
                              email=body.email, clear_email=clear_email, active=body.active)
    return schemas.MemberOut.model_validate(m)


@router.delete("/{member_id}", status_code=204)
def delete_member(s: DbSession, member_id: IdPath, who: Admin) -> Response:
    service.delete_member(s, member_id=member_id, actor=who.username)
    return Response(status_code=204)
