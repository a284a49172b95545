"""Device presence in the database: last seen / last IP, and rows for unknown MACs.

A device the gate has never met gets a row with only what the network told us — MAC, first
and last seen, last IP, whether the MAC is locally administered — and no member: that is the
"seen but unregistered" list IT claims devices from (DESIGN §11). Nothing else about a guest's
device is kept. Runs on the event writer's database thread, never on the DNS hot path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from allowlist.macs import is_randomised
from monitor.store.models import Device


@dataclass(frozen=True, slots=True)
class PresenceNote:
    mac: str  # canonical form
    ip: str
    ts: datetime
    meeting_id: int | None  # meeting in session in this gate's room at ``ts``, if any


@dataclass(frozen=True, slots=True)
class NewDevice:
    device_id: int
    note: PresenceNote


def touch_devices(conn: Connection, notes: Iterable[PresenceNote]) -> list[NewDevice]:
    """Update last seen/IP; create rows for MACs never seen before. Returns the new rows."""
    dialect = conn.dialect.name
    ins: object = postgresql.insert if dialect == "postgresql" else sqlite.insert
    created: list[NewDevice] = []
    for n in notes:
        res = conn.execute(
            update(Device).where(Device.mac == n.mac).values(last_seen=n.ts, last_ip=n.ip))
        if res.rowcount:
            continue
        stmt = (
            ins(Device)  # type: ignore[operator]
            .values(mac=n.mac, label="", member_id=None, randomised=is_randomised(n.mac),
                    created_at=n.ts, last_seen=n.ts, last_ip=n.ip)
            .on_conflict_do_nothing(index_elements=["mac"])
            .returning(Device.id)
        )
        new_id = conn.execute(stmt).scalar_one_or_none()
        if new_id is not None:
            created.append(NewDevice(int(new_id), n))
    return created


def unregistered_devices(conn: Connection) -> list[dict[str, object]]:
    """The "seen but unregistered" list, most recently seen first."""
    q = (select(Device.id, Device.mac, Device.randomised, Device.created_at, Device.last_seen,
                Device.last_ip)
         .where(Device.member_id.is_(None))
         .order_by(Device.last_seen.desc()))
    return [dict(r._mapping) for r in conn.execute(q)]
