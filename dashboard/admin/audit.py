"""The audit log page: who changed what, when, as a readable table with filters."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.audit.service import page_audit
from api.session import DbSession
from dashboard import audit_view
from dashboard.admin.common import Auditor
from dashboard.web import render

router = APIRouter(include_in_schema=False)
AUDIT_PAGE = 50


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, s: DbSession, who: Auditor,
    entity: Annotated[str | None, Query(max_length=60)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    filters = {"entity": (entity or "").strip() or None, "actor": (actor or "").strip() or None,
               "action": (action or "").strip() or None}
    rows, total = page_audit(s, limit=AUDIT_PAGE, offset=offset, entity=filters["entity"],
                             actor=filters["actor"], action=filters["action"])
    entries = [{
        "id": r.id, "ts": r.ts, "actor": r.actor, "action": r.action, "entity": r.entity,
        "entity_id": r.entity_id, "changes": audit_view.changes(r.before, r.after),
    } for r in rows]
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(request, "audit.html", {
        "entries": entries, "total": total, "offset": offset, "limit": AUDIT_PAGE,
        "filters": {k: v or "" for k, v in filters.items()}, "query": query})
