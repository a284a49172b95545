"""Devices: a MAC address, optionally registered to a member."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from allowlist.identity import IdentitySource
from allowlist.macs import MacError, is_randomised, normalise_mac
from api.audit.service import record
from api.errors import Conflict, Invalid, NotFound
from api.validation import mac as validation_mac
from monitor.store.models import Device, Event, Member
from monitor.store.revision import bump_revision


def register_device(s: Session, *, mac: str, member_id: int | None, label: str = "",
                    actor: str, identity: IdentitySource = IdentitySource.MAC_ONLY) -> Device:
    """``identity`` says what ties the device to the member (a code, or only its MAC)."""
    try:
        mac = normalise_mac(mac)
    except MacError as exc:
        raise Invalid(str(exc)) from None
    if member_id is not None and s.get(Member, member_id) is None:
        raise NotFound(f"no member {member_id}")
    dev = s.execute(select(Device).where(Device.mac == mac)).scalar_one_or_none()
    before = None
    if dev is not None:
        if dev.member_id is not None and member_id is not None and dev.member_id != member_id:
            raise Conflict(f"{mac} is already registered to another member; "
                           "IT must revoke it first")
        before = {"member_id": dev.member_id, "label": dev.label,
                  "identity": str(dev.identity)}
        dev.member_id = member_id
        dev.label = label or dev.label
        dev.identity = identity
    else:
        dev = Device(mac=mac, member_id=member_id, label=label, randomised=is_randomised(mac),
                     identity=identity)
        s.add(dev)
    s.flush()
    record(s, actor=actor, action="register", entity="device", entity_id=dev.id, before=before,
           after={"mac": mac, "member_id": member_id, "label": dev.label,
                  "identity": str(identity)})
    bump_revision(s)
    return dev


def revoke_device(s: Session, *, device_id: int, actor: str) -> Device:
    dev = s.get(Device, device_id)
    if dev is None:
        raise NotFound(f"no device {device_id}")
    before = {"member_id": dev.member_id}
    dev.member_id = None
    record(s, actor=actor, action="revoke", entity="device", entity_id=dev.id, before=before,
           after={"member_id": None})
    bump_revision(s)
    return dev


def list_devices(s: Session) -> list[Device]:
    return list(s.execute(select(Device).order_by(Device.id)).scalars())


def _view(d: Device) -> dict[str, object]:
    return {"mac": d.mac, "member_id": d.member_id, "label": d.label}


def _member_exists(s: Session, member_id: int | None) -> None:
    if member_id is not None and s.get(Member, member_id) is None:
        raise Invalid(f"no member {member_id}")


def get_device(s: Session, *, device_id: int) -> Device:
    d = s.get(Device, device_id)
    if d is None:
        raise NotFound(f"no device {device_id}")
    return d


def add_device(s: Session, *, mac: str, member_id: int | None, label: str = "",
               actor: str) -> Device:
    """A device IT types in. A MAC already known (e.g. seen on the Wi-Fi) is claimed instead,
    so that nobody re-binds a device to another member by accident."""
    canonical = validation_mac(mac)
    _member_exists(s, member_id)
    known = s.execute(select(Device).where(Device.mac == canonical)).scalar_one_or_none()
    if known is not None:
        raise Conflict(f"{canonical} is already known as device {known.id}; "
                       "claim it or edit it instead")
    return register_device(s, mac=canonical, member_id=member_id, label=label, actor=actor)


def update_device(s: Session, *, device_id: int, label: str, actor: str) -> Device:
    d = get_device(s, device_id=device_id)
    before = _view(d)
    d.label = label.strip()
    s.flush()
    record(s, actor=actor, action="update", entity="device", entity_id=d.id, before=before,
           after=_view(d))
    return d


def claim_device(s: Session, *, device_id: int, member_id: int, label: str | None = None,
                 actor: str) -> Device:
    """Bind a seen-but-unregistered device to a member (DESIGN §11: IT claims it)."""
    d = get_device(s, device_id=device_id)
    if d.member_id is not None:
        raise Conflict(f"device {d.id} ({d.mac}) is already registered; revoke it first")
    _member_exists(s, member_id)
    return register_device(s, mac=d.mac, member_id=member_id,
                           label=label if label is not None else d.label, actor=actor)


def delete_device(s: Session, *, device_id: int, actor: str) -> None:
    """Forget a device, unless recorded events refer to it (then revoke it instead)."""
    d = get_device(s, device_id=device_id)
    if s.execute(select(func.count()).select_from(Event)
                 .where(Event.device_id == d.id)).scalar_one():
        raise Conflict(f"device {d.id} appears in recorded events; revoke it instead")
    record(s, actor=actor, action="delete", entity="device", entity_id=d.id, before=_view(d))
    s.delete(d)
    bump_revision(s)


def page_devices(s: Session, *, limit: int, offset: int, member_id: int | None = None,
                 registered: bool | None = None) -> tuple[list[Device], int]:
    q = select(Device).options(selectinload(Device.member))
    if member_id is not None:
        q = q.where(Device.member_id == member_id)
    if registered is not None:
        q = q.where(Device.member_id.is_not(None) if registered else Device.member_id.is_(None))
    total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    return list(s.execute(q.order_by(Device.id).limit(limit).offset(offset)).scalars()), total


def unregistered_seen(s: Session, *, limit: int, offset: int) -> tuple[list[Device], int]:
    """Devices seen on the chamber Wi-Fi but not registered to anyone, most recent first.

    A member whose phone changed its MAC shows up here; the hostname usually says whose."""
    q = select(Device).where(Device.member_id.is_(None), Device.last_seen.is_not(None))
    total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = s.execute(q.order_by(Device.last_seen.desc(), Device.id).limit(limit).offset(offset))
    return list(rows.scalars()), total
