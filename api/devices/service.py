"""Devices: a MAC address, optionally registered to a member."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from allowlist.macs import MacError, is_randomised, normalise_mac
from api.audit.service import record
from api.errors import Conflict, Invalid, NotFound
from monitor.store.models import Device, Member
from monitor.store.revision import bump_revision


def register_device(s: Session, *, mac: str, member_id: int | None, label: str = "",
                    actor: str) -> Device:
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
            raise Conflict(f"{mac} is already registered to another member; IT must revoke it first")
        before = {"member_id": dev.member_id, "label": dev.label}
        dev.member_id = member_id
        dev.label = label or dev.label
    else:
        dev = Device(mac=mac, member_id=member_id, label=label, randomised=is_randomised(mac))
        s.add(dev)
    s.flush()
    record(s, actor=actor, action="register", entity="device", entity_id=dev.id, before=before,
           after={"mac": mac, "member_id": member_id, "label": dev.label})
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
