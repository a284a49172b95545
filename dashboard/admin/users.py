"""Users and roles: add, change role, disable/enable, unlock, reset password."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from api.errors import Invalid, ServiceError
from api.session import DbSession, attempt
from api.users import service as users
from api.validation import IdPath
from dashboard.admin.common import Admin, base, confirm, redirect_done
from dashboard.admin.wording import ROLE_TEXT
from dashboard.web import PageError, render
from monitor.store.models import User

router = APIRouter(include_in_schema=False)


def _users(request: Request, s: Session, *, done_code: str | None = None,
           error: str | None = None, status: int = 200,
           form: Mapping[str, str] | None = None) -> Response:
    rows, _ = users.list_users(s, limit=1000, offset=0)
    ctx = base("users", done_code, error)
    # Lock-outs are the login throttle's backoff (per name and source, in this process).
    throttle = request.app.state.account_throttle
    locked = {u.id: wait for u in rows if (wait := throttle.waiting(u.username)) is not None}
    ctx.update(users=rows, roles=ROLE_TEXT, form=form or {}, locked=locked)
    return render(request, "admin/users.html", ctx, status=status)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, s: DbSession, who: Admin,
               done: str | None = None) -> Response:
    return _users(request, s, done_code=done)


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(request: Request, s: DbSession, who: Admin,
             username: Annotated[str, Form(max_length=100)],
             password: Annotated[str, Form(max_length=1000)],
             role: Annotated[str, Form(max_length=30)]) -> Response:
    try:
        with attempt(s):
            users.create_user(s, username=username, password=password, role=role,
                              actor=who.username)
    except ServiceError as exc:
        return _users(request, s, error=exc.message, status=exc.status,
                      form={"username": username, "role": role})
    return redirect_done("/admin/users", "user-added")


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
def update_user(request: Request, s: DbSession, user_id: IdPath, who: Admin,
                op: Annotated[str, Form(max_length=20)],
                role: Annotated[str, Form(max_length=30)] = "",
                password: Annotated[str, Form(max_length=1000)] = "",
                confirmed: Annotated[str, Form(max_length=5)] = "0") -> Response:
    try:
        with attempt(s):
            u = s.get(User, user_id)
            if u is None:
                raise PageError(404, f"There is no user {user_id}.")
            if op == "disable" and confirmed != "1":
                return confirm(request, title=f"Disable {u.username}?",
                               message="They are signed out everywhere and cannot sign in "
                               "until enabled again. Their API tokens stop working.",
                               action=f"/admin/users/{user_id}", fields={"op": "disable"},
                               yes="Yes, disable the account", back="/admin/users")
            if op == "role":
                users.update_user(s, user_id=user_id, role=role, actor=who.username)
            elif op == "disable":
                users.update_user(s, user_id=user_id, disabled=True, actor=who.username)
            elif op == "enable":
                users.update_user(s, user_id=user_id, disabled=False, actor=who.username)
            elif op == "unlock":
                u = users.update_user(s, user_id=user_id, unlock=True, actor=who.username)
                request.app.state.account_throttle.forget_account(u.username)
            elif op == "password":
                users.update_user(s, user_id=user_id, password=password, actor=who.username)
            else:
                raise Invalid(f"unknown change {op!r}")
    except ServiceError as exc:
        return _users(request, s, error=exc.message, status=exc.status)
    return redirect_done("/admin/users", "user-updated")
