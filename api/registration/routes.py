"""IT issues one-time registration codes (DESIGN §11). The member-facing page that redeems
them is dashboard/registration.py; it needs no login, so it lives with the pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.auth.deps import require
from api.auth.roles import CONFIGURE
from api.registration import schemas, service
from api.session import DbSession
from api.users.service import Principal
from api.validation import IdPath

router = APIRouter(prefix="/api/v1/members", tags=["members"])
Admin = Annotated[Principal, Depends(require(CONFIGURE))]


@router.post("/{member_id}/registration-codes", status_code=201)
def issue_code(request: Request, s: DbSession, response: Response, member_id: IdPath, who: Admin,
               body: schemas.CodeIn | None = None) -> schemas.CodeIssued:
    """A one-time code for the member to register a device on the chamber Wi-Fi. The code
    is in this response only; the database keeps its hash."""
    hours = (body or schemas.CodeIn()).hours
    issued = service.issue_code(s, member_id=member_id, hours=hours, actor=who.username)
    response.headers["Cache-Control"] = "no-store"
    web = request.app.state.settings.web
    links = service.slip_urls(web.registration_host or request.app.state.settings.chamber
                              .gate_address, web.registration_port)
    return schemas.CodeIssued(id=issued.id, member_id=issued.member_id, member=issued.member,
                              code=issued.code, expires_at=issued.expires_at, **links)


@router.get("/{member_id}/registration-codes")
def list_codes(s: DbSession, member_id: IdPath, _: Admin) -> list[schemas.CodeOut]:
    """The member's codes, newest first: when issued, by whom, and whether used or expired."""
    return [schemas.CodeOut(id=r.id, member_id=r.member_id, created_at=r.created_at,
                            created_by=r.created_by, expires_at=r.expires_at,
                            used_at=r.used_at, device_id=r.device_id,
                            state=service.code_state(r))
            for r in service.list_codes(s, member_id=member_id)]
