"""GET /api/v1/explain: the verdict for a name, a device and a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.auth.deps import require
from api.auth.roles import EXPLAIN
from api.explain import schemas, service
from api.session import DbSession
from api.users.service import Principal
from api.validation import Time

router = APIRouter(prefix="/api/v1/explain", tags=["explain"])


@router.get("")
def explain(
    request: Request, s: DbSession,
    _: Annotated[Principal, Depends(require(EXPLAIN))],
    domain: Annotated[str, Query(min_length=1, max_length=300)],
    device: Annotated[str | None, Query(max_length=40, description="MAC address")] = None,
    at: Annotated[Time | None, Query(description="ISO 8601; no zone = London time")] = None,
) -> schemas.ExplainOut:
    out = service.explain(s, settings=request.app.state.settings, domain=domain,
                          device=device, at=at)
    return schemas.ExplainOut.model_validate(out)
