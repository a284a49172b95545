"""Append-only audit trail of configuration changes (who, when, what, before/after)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.models import AuditRow
from monitor.store.types import utcnow


def record(s: Session, *, actor: str, action: str, entity: str, entity_id: object = None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    s.add(AuditRow(ts=utcnow(), actor=actor, action=action, entity=entity,
                   entity_id=None if entity_id is None else str(entity_id),
                   before=before, after=after))


def list_audit(s: Session, *, limit: int = 100, before_id: int | None = None) -> list[AuditRow]:
    q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    if before_id is not None:
        q = q.where(AuditRow.id < before_id)
    return list(s.execute(q).scalars())


def page_audit(s: Session, *, limit: int, offset: int, entity: str | None = None,
               entity_id: str | None = None, actor: str | None = None,
               action: str | None = None, since: datetime | None = None,
               until: datetime | None = None) -> tuple[list[AuditRow], int]:
    """Newest first, filtered; the trail is append-only, so pages are stable from the top."""
    q = select(AuditRow)
    for column, value in ((AuditRow.entity, entity), (AuditRow.entity_id, entity_id),
                          (AuditRow.actor, actor), (AuditRow.action, action)):
        if value is not None:
            q = q.where(column == value)
    if since is not None:
        q = q.where(AuditRow.ts >= since)
    if until is not None:
        q = q.where(AuditRow.ts < until)
    total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = s.execute(q.order_by(AuditRow.id.desc()).limit(limit).offset(offset)).scalars()
    return list(rows), total
