"""User accounts, browser sessions and API tokens (secrets stored only as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api.audit.service import record
from api.auth.passwords import MIN_LENGTH, hash_password, verify_password
from api.auth.roles import Role
from api.auth.throttle import AccountThrottle
from api.errors import Conflict, Invalid, NotFound
from monitor.store.models import SessionRow, User
from monitor.store.types import utcnow


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
    """Wrong name or password, or throttled; the message is safe to show."""


class LoginThrottled(LoginFailed):
    """Too many recent failures for this name from this address: wait ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins for this name from this address; "
                         f"try again in {retry_after} seconds")
        self.retry_after = retry_after


def throttled_login(s: Session, throttle: AccountThrottle, *, source: str, username: str,
                    password: str, hours: int) -> tuple[str, Principal]:
    """:func:`login` behind the per-(name, source) backoff; both login endpoints use this."""
    wait = throttle.retry_after(username, source)
    if wait is not None:
        raise LoginThrottled(wait)
    try:
        out = login(s, username=username, password=password, hours=hours)
    except LoginFailed:
        throttle.failed(username, source)
        raise
    throttle.succeeded(username, source)
    return out


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
    """Check the password. The answer is the same whether or not the name is an account
    (the dummy hash keeps even the time alike); guessing is slowed per (name, source) by
    :class:`api.auth.throttle.AccountThrottle` in front of this — there is no account-wide
    lock-out any more, since anyone could trigger one to keep the clerk out (issue 20)."""
    now = now or utcnow()
    u = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if u is None or u.disabled or not verify_password(u.password_hash if u else None, password):
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
    token, _ = issue_token(s, user_id=u.id, name=name, actor=actor)
    return token


def issue_token(s: Session, *, user_id: int, name: str, actor: str) -> tuple[str, SessionRow]:
    """A new API token: the secret is returned once and only its hash is kept."""
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("token name must be 1-100 characters")
    u = get_user(s, user_id=user_id)
    if u.disabled:
        raise Invalid(f"user {u.username!r} is disabled")
    token, p = _new_session(s, u, kind="api", name=name, expires=None)
    record(s, actor=actor, action="create-token", entity="user", entity_id=u.id,
           after={"token_id": p.session_id, "name": name})
    row = s.get(SessionRow, p.session_id)
    assert row is not None
    return token, row


def resolve(s: Session, *, token: str, kind: str, now: datetime | None = None) -> Principal | None:
    now = now or utcnow()
    q = select(SessionRow).where(SessionRow.token_hash == _digest(token))
    row = s.execute(q).scalar_one_or_none()
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


def revoke_token(s: Session, *, token_id: int, actor: str, owner_id: int | None = None) -> None:
    """Revoke an API token; with ``owner_id`` only that user's (others' look absent: 404)."""
    row = s.get(SessionRow, token_id)
    if row is None or row.kind != "api" or (owner_id is not None and row.user_id != owner_id):
        raise NotFound(f"no API token {token_id}")
    if row.revoked:
        return
    row.revoked = True
    record(s, actor=actor, action="revoke-token", entity="user", entity_id=row.user_id,
           after={"token_id": token_id})


def list_tokens(s: Session, *, user_id: int | None, limit: int, offset: int
                ) -> tuple[list[tuple[SessionRow, str]], int]:
    """API tokens (never their secrets) with the owner's name; ``user_id`` None: everyone's."""
    q = select(SessionRow, User.username).join(User, User.id == SessionRow.user_id) \
        .where(SessionRow.kind == "api")
    if user_id is not None:
        q = q.where(SessionRow.user_id == user_id)
    total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = s.execute(q.order_by(SessionRow.id).limit(limit).offset(offset)).all()
    return [(row, name) for row, name in rows], total


def get_user(s: Session, *, user_id: int) -> User:
    u = s.get(User, user_id)
    if u is None:
        raise NotFound(f"no user {user_id}")
    return u


def list_users(s: Session, *, limit: int, offset: int) -> tuple[list[User], int]:
    total = s.execute(select(func.count()).select_from(User)).scalar_one()
    rows = s.execute(select(User).order_by(User.username).limit(limit).offset(offset)).scalars()
    return list(rows), total


def _user_view(u: User) -> dict[str, object]:
    return {"role": u.role, "disabled": u.disabled,
            "locked_until": u.locked_until.isoformat() if u.locked_until else None}


def update_user(s: Session, *, user_id: int, actor: str, role: Role | str | None = None,
                disabled: bool | None = None, password: str | None = None,
                unlock: bool = False) -> User:
    """Change role, disable/enable, reset password or lift a lock-out (all audited).

    A new password or a disabled account ends the user's sessions and tokens, because both
    usually mean the old credentials can no longer be trusted. The last enabled IT admin
    cannot be demoted or disabled: nobody could then manage users from the web.
    """
    u = get_user(s, user_id=user_id)
    before = _user_view(u)
    new_role = u.role
    if role is not None:
        try:
            new_role = Role(role).value
        except ValueError:
            raise Invalid(f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}") \
                from None
    now_disabled = u.disabled if disabled is None else disabled
    if u.role == Role.IT_ADMIN and not u.disabled and (
        new_role != Role.IT_ADMIN or now_disabled
    ):
        others = s.execute(select(func.count()).select_from(User).where(
            User.role == Role.IT_ADMIN.value, User.disabled.is_(False), User.id != u.id,
        )).scalar_one()
        if not others:
            raise Conflict("this is the last enabled IT admin; add another one first")
    if password is not None and len(password) < MIN_LENGTH:
        raise Invalid(f"password must be at least {MIN_LENGTH} characters")
    u.role = new_role
    u.disabled = now_disabled
    if unlock:
        u.locked_until = None
        u.failed_logins = 0
    if password is not None:
        u.password_hash = hash_password(password)
    if password is not None or (disabled and not before["disabled"]):
        s.execute(update(SessionRow).where(SessionRow.user_id == u.id).values(revoked=True))
    after = _user_view(u)
    if password is not None:
        after["password"] = "changed"  # never the password or its hash
    s.flush()
    record(s, actor=actor, action="update", entity="user", entity_id=u.id, before=before,
           after=after)
    return u
