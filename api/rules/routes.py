"""IT's allowlist rules (CRUD). Every change is audited and bumps the policy revision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.auth.deps import require
from api.auth.roles import CONFIGURE
from api.pagination import Page, Paging
from api.rules import schemas, service
from api.session import DbSession
from api.users.service import Principal
from api.validation import IdPath

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])
Admin = Annotated[Principal, Depends(require(CONFIGURE))]


@router.get("")
def list_rules(
    s: DbSession, _: Admin, page: Paging,
    category: schemas.RuleCategory | None = None,
    q: Annotated[str | None, Query(max_length=253, description="part of the domain")] = None,
) -> Page[schemas.RuleOut]:
    rows, total = service.list_rules(s, limit=page.limit, offset=page.offset,
                                     category=category, search=q)
    items = [schemas.RuleOut.model_validate(r) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=201)
def create_rule(s: DbSession, body: schemas.RuleIn, who: Admin) -> schemas.RuleOut:
    r = service.create_rule(s, actor=who.username, domain=body.domain, category=body.category,
                            platform=body.platform, exact=body.exact, note=body.note,
                            confirm_effect=body.confirm_effect)
    return schemas.RuleOut.model_validate(r)


@router.get("/{rule_id}")
def get_rule(s: DbSession, rule_id: IdPath, _: Admin) -> schemas.RuleOut:
    return schemas.RuleOut.model_validate(service.get_rule(s, rule_id=rule_id))


@router.put("/{rule_id}")
def update_rule(s: DbSession, rule_id: IdPath, body: schemas.RuleIn,
                who: Admin) -> schemas.RuleOut:
    r = service.update_rule(s, rule_id=rule_id, actor=who.username, domain=body.domain,
                            category=body.category, platform=body.platform,
                            exact=body.exact, note=body.note,
                            confirm_effect=body.confirm_effect)
    return schemas.RuleOut.model_validate(r)


@router.delete("/{rule_id}", status_code=204)
def delete_rule(s: DbSession, rule_id: IdPath, who: Admin) -> Response:
    service.delete_rule(s, rule_id=rule_id, actor=who.username)
    return Response(status_code=204)
