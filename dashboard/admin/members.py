"""Adding members and marking them active or inactive (shown on the devices page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.errors import ServiceError
from api.members import service as members
from api.session import DbSession, attempt
from api.validation import IdPath
from dashboard.admin.common import Admin, redirect_done
from dashboard.admin.devices import devices_view

router = APIRouter(include_in_schema=False)


@router.post("/admin/members", response_class=HTMLResponse)
def add_member(request: Request, s: DbSession, who: Admin,
               name: Annotated[str, Form(max_length=300)],
               email: Annotated[str, Form(max_length=320)] = "") -> Response:
    try:
        with attempt(s):
            members.create_member(s, name=name, email=email or None, actor=who.username)
    except ServiceError as exc:
        return devices_view(request, s, error=exc.message, status=exc.status,
                            form={"member_name": name, "member_email": email})
    return redirect_done("/admin/devices", "member-added")


@router.post("/admin/members/{member_id}/active", response_class=HTMLResponse)
def member_active(request: Request, s: DbSession, member_id: IdPath, who: Admin,
                  active: Annotated[str, Form(max_length=5)] = "0") -> Response:
    try:
        with attempt(s):
            members.update_member(s, member_id=member_id, active=active == "1",
                                  actor=who.username)
    except ServiceError as exc:
        return devices_view(request, s, error=exc.message, status=exc.status)
    return redirect_done("/admin/devices", "member-updated")
