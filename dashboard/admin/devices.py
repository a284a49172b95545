"""The members and devices page; adding, claiming, revoking and importing devices."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from allowlist.macs import is_randomised
from api.devices import importer
from api.devices import service as devices
from api.errors import Invalid, ServiceError
from api.session import DbSession, attempt
from api.validation import IdPath
from dashboard import queries as q
from dashboard.admin.common import (
    MAX_UPLOAD,
    Admin,
    base,
    confirm,
    redirect_done,
    upload_bytes,
)
from dashboard.web import render
from monitor.store.models import Device, Member

router = APIRouter(include_in_schema=False)


def devices_view(request: Request, s: Session, *, done_code: str | None = None,
                 error: str | None = None, details: list[str] | None = None,
                 status: int = 200, form: Mapping[str, str] | None = None,
                 imported: Mapping[str, object] | None = None) -> Response:
    """The page, also re-rendered by the member and device forms with their refusal."""
    ctx = base("devices", done_code, error, details)
    all_members = list(s.execute(select(Member).options(selectinload(Member.devices))
                                 .order_by(Member.name)).scalars())
    unregistered, unregistered_total = devices.unregistered_seen(s, limit=200, offset=0)
    registered = list(s.execute(
        select(Device).options(selectinload(Device.member))
        .where(Device.member_id.is_not(None)).order_by(Device.id)).scalars())
    known = list(s.execute(
        select(Device).where(Device.member_id.is_(None), Device.last_seen.is_(None))
        .order_by(Device.id)).scalars())
    ctx.update(members=all_members, active_members=[m for m in all_members if m.active],
               unregistered=unregistered, unregistered_total=unregistered_total,
               registered=registered, known=known, form=form or {}, imported=imported,
               randomised=is_randomised,
               present_after=datetime.now(UTC) - timedelta(minutes=q.PRESENT_MINUTES))
    return render(request, "admin/devices.html", ctx, status=status)


@router.get("/admin/devices", response_class=HTMLResponse)
def devices_page(request: Request, s: DbSession, who: Admin,
                 done: str | None = None) -> Response:
    return devices_view(request, s, done_code=done)


def _member_id(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise Invalid("choose a member from the list")
    return int(raw)


@router.post("/admin/devices", response_class=HTMLResponse)
def add_device(request: Request, s: DbSession, who: Admin,
               mac: Annotated[str, Form(max_length=40)],
               member_id: Annotated[str, Form(max_length=20)] = "",
               label: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        with attempt(s):
            d = devices.add_device(s, mac=mac, member_id=_member_id(member_id),
                                   label=label.strip(), actor=who.username)
            randomised = d.randomised
    except ServiceError as exc:
        return devices_view(request, s, error=exc.message, status=exc.status,
                            form={"mac": mac, "member_id": member_id, "label": label})
    return redirect_done("/admin/devices",
                         "device-added-randomised" if randomised else "device-added")


@router.post("/admin/devices/{device_id}/claim", response_class=HTMLResponse)
def claim(request: Request, s: DbSession, device_id: IdPath, who: Admin,
          member_id: Annotated[str, Form(max_length=20)] = "",
          label: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        mid = _member_id(member_id)
        if mid is None:
            raise Invalid("choose the member whose device this is")
        with attempt(s):
            devices.claim_device(s, device_id=device_id, member_id=mid,
                                 label=label.strip() or None, actor=who.username)
    except ServiceError as exc:
        return devices_view(request, s, error=exc.message, status=exc.status)
    return redirect_done("/admin/devices", "device-claimed")


@router.post("/admin/devices/{device_id}/revoke", response_class=HTMLResponse)
def revoke(request: Request, s: DbSession, device_id: IdPath, who: Admin,
           confirmed: Annotated[str, Form(max_length=5)] = "0") -> Response:
    try:
        with attempt(s):
            d = devices.get_device(s, device_id=device_id)
            if confirmed != "1":
                owner = d.member.name if d.member else "nobody"
                return confirm(request, title="Revoke this device?",
                               message=f"{d.label or d.mac} ({d.mac}) will no longer be "
                               f"registered to {owner} and will not be restricted during "
                               "meetings.", action=f"/admin/devices/{device_id}/revoke",
                               fields={}, yes="Yes, revoke it", back="/admin/devices")
            devices.revoke_device(s, device_id=device_id, actor=who.username)
    except ServiceError as exc:
        return devices_view(request, s, error=exc.message, status=exc.status)
    return redirect_done("/admin/devices", "device-revoked")


@router.post("/admin/devices/import", response_class=HTMLResponse)
def import_devices(
    request: Request, s: DbSession, who: Admin,
    csv_file: Annotated[UploadFile | None, File()] = None,
    csv_text: Annotated[str, Form(max_length=MAX_UPLOAD)] = "",
    dry_run: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """All or nothing (the importer checks every line first); every bad line is listed."""
    try:
        data = upload_bytes(csv_file)
        if data is None:
            text = csv_text
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise Invalid("the file is not UTF-8 text; save it as “CSV UTF-8”") from None
        if not text.strip():
            raise Invalid("choose a CSV file or paste its lines")
        with attempt(s):
            summary = importer.import_devices(s, text=text, dry_run=bool(dry_run),
                                              actor=who.username)
    except ServiceError as exc:
        details = [str(d) for d in exc.details] if isinstance(exc.details, list) else []
        return devices_view(request, s, error=exc.message, details=details, status=exc.status,
                            form={"csv_text": csv_text})
    return devices_view(request, s, imported=summary)
