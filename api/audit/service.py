"""Append-only audit trail of configuration changes (who, when, what, before/after)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
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
