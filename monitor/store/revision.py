"""The policy revision counter: every policy-relevant write bumps it; gates poll it."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.store.models import Site
from monitor.store.types import utcnow


def ensure_site(s: Session) -> Site:
    site = s.get(Site, 1)
    if site is None:
        site = Site(id=1, revision=1, updated_at=utcnow())
        s.add(site)
        s.flush()
    return site


def current_revision(s: Session) -> int:
    rev = s.execute(select(Site.revision).where(Site.id == 1)).scalar_one_or_none()
    return rev or 0


def bump_revision(s: Session) -> None:
    ensure_site(s)
    s.execute(
        update(Site).where(Site.id == 1).values(revision=Site.revision + 1, updated_at=utcnow())
    )
