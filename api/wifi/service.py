"""Per-member Wi-Fi keys: generate, rotate, list, and render for hostapd and the slips.

One strong passphrase per active member (about 100 bits, from an alphabet that reads and
types unambiguously on a phone), with a stable key id (``m<member id>``: hostapd logs and
the gate see the id, never the member's name). Changes are audited without the passphrase.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import segno
import segno.helpers
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.errors import Invalid, NotFound
from monitor.identity.store import psk_file_text
from monitor.store.models import Member, WifiKey
from monitor.store.types import utcnow

__all__ = ["ensure_keys", "keys", "psk_file_text", "slip", "wifi_qr_svg"]

# No 0/O, 1/l/I, 5/S, 2/Z: read off paper and typed on a phone keyboard without doubt.
ALPHABET = "abcdefghjkmnpqrtuvwxy346789"
GROUPS, GROUP_LEN = 5, 5  # 25 symbols of log2(27) ≈ 4.75 bits: about 119 bits


def new_passphrase() -> str:
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LEN))
                    for _ in range(GROUPS))


def key_id_for(member_id: int) -> str:
    return f"m{member_id}"


@dataclass(frozen=True, slots=True)
class KeyView:
    member_id: int
    member: str
    active: bool
    key_id: str | None
    passphrase: str | None
    changed: str | None = None  # "created" | "rotated" | None (this call)


def keys(s: Session) -> list[KeyView]:
    """Every member with their key (or none yet), by name."""
    members = s.execute(select(Member).order_by(Member.name)).scalars().all()
    by_member = {k.member_id: k for k in s.execute(select(WifiKey)).scalars()}
    return [_view(m, by_member.get(m.id)) for m in members]


def _view(m: Member, k: WifiKey | None, changed: str | None = None) -> KeyView:
    return KeyView(m.id, m.name, m.active, k.key_id if k else None,
                   k.passphrase if k else None, changed)


def ensure_keys(s: Session, *, actor: str, rotate: Iterable[int] = (),
                rotate_all: bool = False) -> list[KeyView]:
    """A key for every active member who has none; a new passphrase for those in ``rotate``
    (member ids) or for everyone with ``rotate_all``. The old passphrase stops working when
    hostapd re-reads its file (the gate asks it to)."""
    wanted = set(rotate)
    members = {m.id: m for m in s.execute(select(Member)).scalars()}
    unknown = wanted - members.keys()
    if unknown:
        raise NotFound(f"no member {min(unknown)}")
    existing = {k.member_id: k for k in s.execute(select(WifiKey)).scalars()}
    out = []
    for m in sorted(members.values(), key=lambda m: m.name):
        k = existing.get(m.id)
        changed = None
        if k is None and (m.active or m.id in wanted):
            k = WifiKey(member_id=m.id, key_id=key_id_for(m.id), passphrase=new_passphrase(),
                        created_at=utcnow())
            s.add(k)
            changed = "created"
        elif k is not None and (rotate_all or m.id in wanted):
            k.passphrase = new_passphrase()
            k.rotated_at = utcnow()
            changed = "rotated"
        if changed:
            s.flush()
            record(s, actor=actor, action=f"wifi-key-{changed}", entity="member",
                   entity_id=m.id, after={"key_id": k.key_id if k else None})
        out.append(_view(m, k, changed))
    return out


def slip(s: Session, *, member_id: int) -> KeyView:
    m = s.get(Member, member_id)
    if m is None:
        raise NotFound(f"no member {member_id}")
    k = s.execute(select(WifiKey).where(WifiKey.member_id == member_id)).scalar_one_or_none()
    if k is None:
        raise Invalid(f"{m.name} has no Wi-Fi key yet; generate the keys first")
    return _view(m, k)


def wifi_qr_svg(ssid: str, passphrase: str) -> str:
    """The standard ``WIFI:T:WPA;S:…;P:…;;`` QR code (phones' cameras offer to join), as an
    inline SVG with a text title for screen readers."""
    qr = segno.helpers.make_wifi(ssid=ssid, password=passphrase, security="WPA")
    out = io.BytesIO()
    qr.save(out, kind="svg", xmldecl=False, svgns=True, scale=5, border=2,
            title=f"QR code to join the Wi-Fi network {ssid}")
    return out.getvalue().decode()
