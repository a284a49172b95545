"""Devices (IT admins): CRUD, revoke, CSV import, the seen-but-unregistered list and claim."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.auth.deps import require
from api.auth.roles import CONFIGURE
from api.devices import importer, schemas, service
from api.pagination import Page, Paging
from api.session import DbSession
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
    s: DbSession, _: Admin, page: Paging,
    member_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    registered: bool | None = None,
) -> Page[schemas.DeviceOut]:
    rows, total = service.page_devices(s, limit=page.limit, offset=page.offset,
                                       member_id=member_id, registered=registered)
    return _page(rows, total, page.limit, page.offset)


@router.post("", status_code=201)
def add_device(s: DbSession, body: schemas.DeviceIn, who: Admin) -> schemas.DeviceOut:
    d = service.add_device(s, mac=body.mac, member_id=body.member_id, label=body.label,
                           actor=who.username)
    return schemas.DeviceOut.model_validate(d)


@router.get("/unregistered")
def unregistered(s: DbSession, _: Admin, page: Paging) -> Page[schemas.DeviceOut]:
    """Seen on the chamber Wi-Fi, registered to nobody; claim one to register it."""
    rows, total = service.unregistered_seen(s, limit=page.limit, offset=page.offset)
    return _page(rows, total, page.limit, page.offset)


@router.post("/import")
def import_devices(s: DbSession, body: schemas.ImportIn, who: Admin) -> schemas.ImportOut:
    """All or nothing: any bad line → 422 listing every bad line, and no change."""
    summary = importer.import_devices(s, text=body.csv, dry_run=body.dry_run,
                                      actor=who.username)
    return schemas.ImportOut.model_validate(summary)


@router.get("/{device_id}")
def get_device(s: DbSession, device_id: IdPath, _: Admin) -> schemas.DeviceOut:
    return schemas.DeviceOut.model_validate(service.get_device(s, device_id=device_id))


@router.patch("/{device_id}")
def update_device(s: DbSession, device_id: IdPath, body: schemas.DevicePatch,
                  who: Admin) -> schemas.DeviceOut:
    d = service.update_device(s, device_id=device_id, label=body.label, actor=who.username)
    return schemas.DeviceOut.model_validate(d)


@router.delete("/{device_id}", status_code=204)
def delete_device(s: DbSession, device_id: IdPath, who: Admin) -> Response:
    service.delete_device(s, device_id=device_id, actor=who.username)
    return Response(status_code=204)


@router.post("/{device_id}/revoke")
def revoke_device(s: DbSession, device_id: IdPath, who: Admin) -> schemas.DeviceOut:
    """Unbind from its member: the device is no longer restricted during meetings."""
    d = service.revoke_device(s, device_id=device_id, actor=who.username)
    return schemas.DeviceOut.model_validate(d)


@router.post("/{device_id}/claim")
def claim_device(s: DbSession, device_id: IdPath, body: schemas.ClaimIn,
                 who: Admin) -> schemas.DeviceOut:
    d = service.claim_device(s, device_id=device_id, member_id=body.member_id,
                             label=body.label, actor=who.username)
    return schemas.DeviceOut.model_validate(d)
