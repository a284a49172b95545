"""Members (councillors)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.errors import Conflict, Invalid, NotFound
from monitor.store.models import Device, Event, Member
from monitor.store.revision import bump_revision

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def create_member(s: Session, *, name: str, email: str | None = None, actor: str) -> Member:
    name = " ".join(name.split())
    if not name:
        raise Invalid("member name is empty")
    if len(name) > 200:
        raise Invalid("member name is longer than 200 characters")
    email = _clean_email(email)
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


def _view(m: Member) -> dict[str, object]:
    return {"name": m.name, "email": m.email, "active": m.active}


def _clean_email(email: str | None) -> str | None:
    email = (email or "").strip() or None
    if email is not None and (len(email) > 320 or not _EMAIL.match(email)):
        raise Invalid(f"{email!r} is not an email address")
    return email


def page_members(s: Session, *, limit: int, offset: int, active: bool | None = None,
                 search: str | None = None) -> tuple[list[Member], int]:
    q = select(Member)
    if active is not None:
        q = q.where(Member.active.is_(active))
    if search:
        q = q.where(Member.name.contains(search, autoescape=True))
    total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = s.execute(q.order_by(Member.name).limit(limit).offset(offset)).scalars()
    return list(rows), total


def update_member(s: Session, *, member_id: int, actor: str, name: str | None = None,
                  email: str | None = None, clear_email: bool = False,
                  active: bool | None = None) -> Member:
    """Rename, change email, or (de)activate: an inactive member's devices are not restricted."""
    m = get_member(s, member_id=member_id)
    before = _view(m)
    if name is not None:
        name = " ".join(name.split())
        if not name:
            raise Invalid("member name is empty")
        other = s.execute(select(Member.id).where(Member.name == name)).scalar_one_or_none()
        if other is not None and other != m.id:
            raise Conflict(f"a member called {name!r} already exists")
        m.name = name
    if email is not None or clear_email:
        m.email = _clean_email(email)
    if active is not None:
        m.active = active
    s.flush()
    record(s, actor=actor, action="update", entity="member", entity_id=m.id, before=before,
           after=_view(m))
    bump_revision(s)
    return m


def delete_member(s: Session, *, member_id: int, actor: str) -> None:
    """Only a member with no devices and no recorded events: reports must keep their names.
    Otherwise deactivate the member instead."""
    m = get_member(s, member_id=member_id)
    if s.execute(select(func.count()).select_from(Device)
                 .where(Device.member_id == m.id)).scalar_one():
        raise Conflict(f"{m.name} still has registered devices; revoke them first")
    if s.execute(select(func.count()).select_from(Event)
                 .where(Event.member_id == m.id)).scalar_one():
        raise Conflict(f"{m.name} appears in recorded events; deactivate instead of deleting")
    record(s, actor=actor, action="delete", entity="member", entity_id=m.id, before=_view(m))
    s.delete(m)
    bump_revision(s)


def set_radius_user(s: Session, *, member_id: int, login: str | None, actor: str) -> Member:
    """The member's 802.1X login as RADIUS accounting reports it (User-Name), when it is not
    their email; None clears it. Matched case-insensitively by the gate."""
    m = get_member(s, member_id=member_id)
    login = (login or "").strip() or None
    if login is not None:
        if len(login) > 253 or any(not c.isprintable() for c in login):
            raise Invalid("a RADIUS user name is at most 253 printable characters")
        other = s.execute(select(Member.id).where(func.lower(Member.radius_user)
                                                  == login.casefold())).scalar_one_or_none()
        if other is not None and other != m.id:
            raise Conflict(f"another member already has the RADIUS user name {login!r}")
    before = {"radius_user": m.radius_user}
    m.radius_user = login
    s.flush()
    record(s, actor=actor, action="update", entity="member", entity_id=m.id, before=before,
           after={"radius_user": login})
    return m
