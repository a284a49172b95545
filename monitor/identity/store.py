"""Sightings → device rows (the database edge of identity-from-the-Wi-Fi).

Which member a RADIUS user name or key id means, and the device row it binds: created for a
new MAC, re-bound (audited, with the network as the actor) when the MAC belonged to nobody,
to someone else, or was tied by a weaker identity; otherwise only last seen and address.
A binding change bumps the policy revision, so every gate restricts the new MAC at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from allowlist.identity import IdentitySource
from allowlist.macs import is_randomised
from monitor.identity import pskfile
from monitor.identity.sighting import Change, Current, Sighting, decide
from monitor.store.models import AuditRow, Device, Member, WifiKey
from monitor.store.revision import bump_revision
from monitor.store.types import utcnow


@dataclass(frozen=True, slots=True)
class Applied:
    change: Change | None  # None: the user name / key id names no member
    device_id: int | None = None
    member_id: int | None = None


def member_for(s: Session, source: IdentitySource, who: str) -> int | None:
    """The member a key id (hostapd) or a RADIUS User-Name means. A User-Name is tried as a
    key id too (iPSK controllers report the key's name), then as the member's RADIUS user
    name, then as their email (802.1X logins are usually the council address)."""
    key = s.execute(select(WifiKey.member_id).where(WifiKey.key_id == who)).scalar()
    if key is not None or source is IdentitySource.WIFI_KEY:
        return key
    folded = who.casefold()
    for column in (Member.radius_user, Member.email):
        found = s.execute(select(Member.id).where(func.lower(column) == folded)
                          .order_by(Member.id)).scalars().first()
        if found is not None:
            return found
    return None


def apply(s: Session, sighting: Sighting, *, now: datetime | None = None) -> Applied:
    now = now or utcnow()
    member_id = member_for(s, sighting.source, sighting.who)
    if member_id is None:
        return Applied(None)
    dev = s.execute(select(Device).where(Device.mac == sighting.mac)).scalar_one_or_none()
    current = None if dev is None else Current(dev.member_id, IdentitySource(dev.identity))
    change = decide(current, member_id, sighting.source)
    if dev is None:
        dev = Device(mac=sighting.mac, member_id=member_id, label="",
                     randomised=is_randomised(sighting.mac), identity=sighting.source)
        s.add(dev)
    before = None if current is None else {"member_id": current.member_id,
                                           "identity": str(current.identity)}
    dev.member_id = member_id
    dev.identity = sighting.source
    dev.last_seen = now
    if sighting.ip is not None:
        dev.last_ip = sighting.ip
    s.flush()
    if change is not Change.TOUCH:
        s.add(AuditRow(ts=now, actor=sighting.via or "gate", action="identify",
                       entity="device", entity_id=str(dev.id), before=before,
                       after={"mac": dev.mac, "member_id": member_id,
                              "identity": str(sighting.source), "who": sighting.who}))
        bump_revision(s)
    return Applied(change, dev.id, member_id)


def psk_file_text(s: Session) -> str:
    """The hostapd wpa_psk_file for the active members' keys (an inactive member's key stops
    working: their line is left out)."""
    rows = s.execute(select(WifiKey).options(selectinload(WifiKey.member))
                     .order_by(WifiKey.member_id)).scalars()
    return pskfile.render((k.key_id, k.passphrase) for k in rows if k.member.active)
