"""Devices (IT admins): CRUD, revoke, CSV import, the seen-but-unregistered list and claim."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.auth.deps import database, require
from api.auth.roles import CONFIGURE
from api.devices import importer, schemas, service
from api.pagination import Page, Paging
from api.users.service import Principal
from api.validation import MAX_ID, IdPath
from monitor.store.models import Device

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
Admin = Annotated[Principal, Depends(require(CONFIGURE))]


def _page(rows: list[Device], total: int, limit: int,
          offset: int) -> Page[schemas.DeviceOut]:
    return Page(items=[schemas.DeviceOut.model_validate(d) for d in rows], total=total,
                limit=limit, offset=offset)


@router.get("")
def list_devices(
    request: Request, _: Admin, page: Paging,
    member_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    registered: bool | None = None,
) -> Page[schemas.DeviceOut]:
    with database(request).session() as s:
        rows, total = service.page_devices(s, limit=page.limit, offset=page.offset,
                                           member_id=member_id, registered=registered)
        return _page(rows, total, page.limit, page.offset)


@router.post("", status_code=201)
def add_device(request: Request, body: schemas.DeviceIn, who: Admin) -> schemas.DeviceOut:
    with database(request).session() as s:
        d = service.add_device(s, mac=body.mac, member_id=body.member_id, label=body.label,
                               actor=who.username)
        return schemas.DeviceOut.model_validate(d)


@router.get("/unregistered")
def unregistered(request: Request, _: Admin, page: Paging) -> Page[schemas.DeviceOut]:
    """Seen on the chamber Wi-Fi, registered to nobody; claim one to register it."""
    with database(request).session() as s:
        rows, total = service.unregistered_seen(s, limit=page.limit, offset=page.offset)
        return _page(rows, total, page.limit, page.offset)


@router.post("/import")
def import_devices(request: Request, body: schemas.ImportIn, who: Admin) -> schemas.ImportOut:
    """All or nothing: any bad line → 422 listing every bad line, and no change."""
    with database(request).session() as s:
        summary = importer.import_devices(s, text=body.csv, dry_run=body.dry_run,
                                          actor=who.username)
    return schemas.ImportOut.model_validate(summary)


@router.get("/{device_id}")
def get_device(request: Request, device_id: IdPath, _: Admin) -> schemas.DeviceOut:
    with database(request).session() as s:
        return schemas.DeviceOut.model_validate(service.get_device(s, device_id=device_id))


@router.patch("/{device_id}")
def update_device(request: Request, device_id: IdPath, body: schemas.DevicePatch,
                  who: Admin) -> schemas.DeviceOut:
    with database(request).session() as s:
        d = service.update_device(s, device_id=device_id, label=body.label, actor=who.username)
        return schemas.DeviceOut.model_validate(d)


@router.delete("/{device_id}", status_code=204)
def delete_device(request: Request, device_id: IdPath, who: Admin) -> Response:
    with database(request).session() as s:
        service.delete_device(s, device_id=device_id, actor=who.username)
    return Response(status_code=204)


@router.post("/{device_id}/revoke")
def revoke_device(request: Request, device_id: IdPath, who: Admin) -> schemas.DeviceOut:
    """Unbind from its member: the device is no longer restricted during meetings."""
    with database(request).session() as s:
        d = service.revoke_device(s, device_id=device_id, actor=who.username)
        return schemas.DeviceOut.model_validate(d)


@router.post("/{device_id}/claim")
def claim_device(request: Request, device_id: IdPath, body: schemas.ClaimIn,
                 who: Admin) -> schemas.DeviceOut:
    with database(request).session() as s:
        d = service.claim_device(s, device_id=device_id, member_id=body.member_id,
                                 label=body.label, actor=who.username)
        return schemas.DeviceOut.model_validate(d)
