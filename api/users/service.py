"""User accounts, browser sessions and API tokens (secrets stored only as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.audit.service import record
from api.auth.passwords import MIN_LENGTH, hash_password, verify_password
from api.auth.roles import Role
from api.errors import Conflict, Invalid, NotFound
from monitor.store.models import SessionRow, User
from monitor.store.types import utcnow

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: Role
    session_id: int
    csrf: str
    via: str  # "browser" | "api"


class LoginFailed(Exception):
    """Wrong name or password, or locked out; the message is safe to show."""


def create_user(s: Session, *, username: str, password: str, role: Role | str, actor: str) -> User:
    username = username.strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise Invalid("username must be 1-100 characters without spaces")
    if len(password) < MIN_LENGTH:
        raise Invalid(f"password must be at least {MIN_LENGTH} characters")
    try:
        role = Role(role)
    except ValueError:
        raise Invalid(f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}") from None
    if s.execute(select(User).where(User.username == username)).scalar_one_or_none():
        raise Conflict(f"user {username!r} already exists")
    u = User(username=username, password_hash=hash_password(password), role=role.value)
    s.add(u)
    s.flush()
    record(s, actor=actor, action="create", entity="user", entity_id=u.id,
           after={"username": username, "role": role.value})
    return u


def login(s: Session, *, username: str, password: str, hours: int,
          now: datetime | None = None) -> tuple[str, Principal]:
    now = now or utcnow()
    u = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if u is not None and u.locked_until is not None and u.locked_until > now:
        raise LoginFailed("too many failed attempts; this account is locked for a while")
    if u is None or u.disabled or not verify_password(u.password_hash if u else None, password):
        if u is not None:
            u.failed_logins += 1
            if u.failed_logins >= MAX_FAILURES:
                u.locked_until = now + LOCKOUT
                u.failed_logins = 0
                record(s, actor="system", action="lockout", entity="user", entity_id=u.id)
        raise LoginFailed("wrong username or password")
    u.failed_logins = 0
    u.locked_until = None
    return _new_session(s, u, kind="browser", name="", expires=now + timedelta(hours=hours))


def _new_session(s: Session, u: User, *, kind: str, name: str,
                 expires: datetime | None) -> tuple[str, Principal]:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    row = SessionRow(token_hash=_digest(token), user_id=u.id, kind=kind, name=name, csrf=csrf,
                     expires_at=expires)
    s.add(row)
    s.flush()
    return token, Principal(u.id, u.username, Role(u.role), row.id, csrf, kind)


def create_token(s: Session, *, username: str, name: str, actor: str) -> str:
    u = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if u is None:
        raise NotFound(f"no user {username!r}")
    token, p = _new_session(s, u, kind="api", name=name, expires=None)
    record(s, actor=actor, action="create-token", entity="user", entity_id=u.id,
           after={"token_id": p.session_id, "name": name})
    return token


def resolve(s: Session, *, token: str, kind: str, now: datetime | None = None) -> Principal | None:
    now = now or utcnow()
    row = s.execute(select(SessionRow).where(SessionRow.token_hash == _digest(token))).scalar_one_or_none()
    if row is None or row.revoked or row.kind != kind:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    u = s.get(User, row.user_id)
    if u is None or u.disabled:
        return None
    return Principal(u.id, u.username, Role(u.role), row.id, row.csrf, kind)


def logout(s: Session, *, session_id: int) -> None:
    s.execute(update(SessionRow).where(SessionRow.id == session_id).values(revoked=True))


def logout_everywhere(s: Session, *, user_id: int, actor: str) -> None:
    s.execute(update(SessionRow).where(SessionRow.user_id == user_id).values(revoked=True))
    record(s, actor=actor, action="logout-everywhere", entity="user", entity_id=user_id)


def revoke_token(s: Session, *, token_id: int, actor: str) -> None:
    row = s.get(SessionRow, token_id)
    if row is None or row.kind != "api":
        raise NotFound(f"no API token {token_id}")
    row.revoked = True
    record(s, actor=actor, action="revoke-token", entity="user", entity_id=row.user_id,
           after={"token_id": token_id})
