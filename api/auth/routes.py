"""Sessions (JSON login, me, logout, logout everywhere) and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.auth import schemas
from api.auth.deps import SESSION_COOKIE, client_address, require
from api.auth.roles import ALL, Role
from api.errors import Forbidden, TooManyAttempts, Unauthenticated
from api.pagination import Page, Paging
from api.session import DbSession
from api.users import service
from api.users.service import LoginFailed, LoginThrottled, Principal
from api.validation import IdPath
from monitor.store.models import SessionRow

router = APIRouter(prefix="/api/v1", tags=["session"])
Anyone = Annotated[Principal, Depends(require(ALL))]


def _session_out(p: Principal) -> schemas.SessionOut:
    return schemas.SessionOut(user_id=p.user_id, username=p.username, role=p.role, via=p.via,
                              csrf_token=p.csrf if p.via == "browser" else None)


def _token_out(row: SessionRow, username: str) -> schemas.TokenOut:
    return schemas.TokenOut(id=row.id, name=row.name, user_id=row.user_id, username=username,
                            created_at=row.created_at, revoked=row.revoked)


@router.post("/session", responses={401: {}, 429: {}})
def create_session(request: Request, s: DbSession, body: schemas.LoginIn,
                   response: Response) -> schemas.SessionOut:
    """Log in: sets the HttpOnly session cookie and returns the CSRF token for it.

    Public by necessity; guarded by the per-(name, address) backoff and the per-address
    throttle.
    """
    web = request.app.state.settings.web
    try:
        token, p = service.throttled_login(
            s, request.app.state.account_throttle, source=client_address(request),
            username=body.username, password=body.password, hours=web.session_hours)
    except LoginThrottled as exc:
        raise TooManyAttempts(str(exc), retry_after=exc.retry_after) from None
    except LoginFailed as exc:
        raise Unauthenticated(str(exc)) from None
    response.set_cookie(SESSION_COOKIE, token, max_age=web.session_hours * 3600, path="/",
                        httponly=True, samesite="strict", secure=web.secure_cookies)
    return _session_out(p)


@router.get("/session/me")
def me(who: Anyone) -> schemas.SessionOut:
    return _session_out(who)


@router.delete("/session", status_code=204)
def delete_session(s: DbSession, who: Anyone) -> Response:
    """Log out this session (with a bearer token: revoke that token)."""
    service.logout(s, session_id=who.session_id)
    resp = Response(status_code=204)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.post("/session/logout-everywhere", status_code=204)
def logout_everywhere(s: DbSession, who: Anyone) -> Response:
    """End every session *and* API token of the caller (a suspected leak)."""
    service.logout_everywhere(s, user_id=who.user_id, actor=who.username)
    resp = Response(status_code=204)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.post("/tokens", status_code=201, tags=["tokens"])
def create_token(s: DbSession, body: schemas.TokenIn, who: Anyone) -> schemas.TokenCreated:
    """Issue an API token — for yourself only. A token minted for someone else would let its
    maker act, and be recorded, as them (an IT admin reading subject-access exports as the
    monitoring officer, issue 20): nobody, IT included, may do that."""
    user_id = body.user_id or who.user_id
    if user_id != who.user_id:
        raise Forbidden("an API token is issued only to the user who asks for it")
    token, row = service.issue_token(s, user_id=user_id, name=body.name, actor=who.username)
    owner = service.get_user(s, user_id=user_id).username
    out = _token_out(row, owner)
    return schemas.TokenCreated(**out.model_dump(), token=token)


@router.get("/tokens", tags=["tokens"])
def list_tokens(s: DbSession, who: Anyone, page: Paging) -> Page[schemas.TokenOut]:
    """Your API tokens; an IT admin sees everyone's. Secrets are never shown again."""
    owner = None if who.role is Role.IT_ADMIN else who.user_id
    rows, total = service.list_tokens(s, user_id=owner, limit=page.limit, offset=page.offset)
    items = [_token_out(row, name) for row, name in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"])
def revoke_token(s: DbSession, token_id: IdPath, who: Anyone) -> Response:
    """Revoke one of your tokens (an IT admin: anyone's). A revoked token gets 401."""
    owner = None if who.role is Role.IT_ADMIN else who.user_id
    service.revoke_token(s, token_id=token_id, actor=who.username, owner_id=owner)
    return Response(status_code=204)
