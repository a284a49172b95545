"""GET /api/v1/audit: who changed what, when, before/after. Deliberately no write routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.audit import schemas, service
from api.auth.deps import require
from api.auth.roles import AUDIT
from api.pagination import Page, Paging
from api.session import DbSession
from api.users.service import Principal
from api.validation import Time

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Short = Annotated[str | None, Query(max_length=100)]


@router.get("")
def list_audit(
    s: DbSession,
    _: Annotated[Principal, Depends(require(AUDIT))],
    page: Paging,
    entity: Short = None,
    entity_id: Short = None,
    actor: Short = None,
    action: Short = None,
    since: Annotated[Time | None, Query()] = None,
    until: Annotated[Time | None, Query()] = None,
) -> Page[schemas.AuditOut]:
    rows, total = service.page_audit(s, limit=page.limit, offset=page.offset, entity=entity,
                                     entity_id=entity_id, actor=actor, action=action,
                                     since=since, until=until)
    items = [schemas.AuditOut.model_validate(r) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
