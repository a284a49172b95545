"""Members (councillors)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.errors import Conflict, Invalid, NotFound
from monitor.store.models import Member
from monitor.store.revision import bump_revision


def create_member(s: Session, *, name: str, email: str | None = None, actor: str) -> Member:
    name = " ".join(name.split())
    if not name:
        raise Invalid("member name is empty")
    if s.execute(select(Member).where(Member.name == name)).scalar_one_or_none():
        raise Conflict(f"a member called {name!r} already exists")
    m = Member(name=name, email=email)
    s.add(m)
    s.flush()
    record(s, actor=actor, action="create", entity="member", entity_id=m.id,
           after={"name": name, "email": email})
    bump_revision(s)
    return m


def get_member(s: Session, *, member_id: int | None = None, name: str | None = None) -> Member:
    if member_id is not None:
        m = s.get(Member, member_id)
    else:
        m = s.execute(select(Member).where(Member.name == name)).scalar_one_or_none()
    if m is None:
        raise NotFound(f"no member {member_id if member_id is not None else name!r}")
    return m


def list_members(s: Session) -> list[Member]:
    return list(s.execute(select(Member).order_by(Member.name)).scalars())
