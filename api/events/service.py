"""Reading events for the live feed and the API, worded neutrally."""

from __future__ import annotations

from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allowlist.catalogue import load_catalogue
from allowlist.wording import event_sentence
from monitor.store.models import Device, Event, Member


@cache
def platform_names() -> dict[str, str]:
    return load_catalogue().names()


def describe(kind: str, action: str, platform: str | None, domain: str | None,
             device: str | None, member: str | None, detail: str | None,
             channels: str | None = "dns") -> str:
    """One neutral sentence (allowlist.wording): what a device did, never what a person
    intended."""
    target = platform_names().get(platform, platform) if platform else None
    return event_sentence(kind, action, target=target, domain=domain, channels=channels,
                          detail=detail, member=member, device=device)


def event_dict(e: Event, member: str | None, device: str | None) -> dict[str, object]:
    return {
        "id": e.id, "ts": e.ts.isoformat(), "kind": e.kind, "action": e.action, "room": e.room,
        "meeting_id": e.meeting_id, "member_id": e.member_id, "member": member,
        "device_id": e.device_id, "device": device, "mac": e.mac, "domain": e.domain,
        "platform": e.platform,
        "platform_name": platform_names().get(e.platform or "", e.platform) if e.platform else None,
        "category": e.category, "channels": e.channels, "rule": e.rule, "detail": e.detail,
        "text": describe(e.kind, e.action, e.platform, e.domain, device, member, e.detail,
                         e.channels),
    }


def list_events(s: Session, *, after_id: int = 0, limit: int = 200, meeting_id: int | None = None,
                member_id: int | None = None, kind: str | None = None,
                newest_first: bool = False) -> list[dict[str, object]]:
    q = (
        select(Event, Member.name, Device.label)
        .join(Member, Member.id == Event.member_id, isouter=True)
        .join(Device, Device.id == Event.device_id, isouter=True)
        .where(Event.id > after_id)
    )
    if meeting_id is not None:
        q = q.where(Event.meeting_id == meeting_id)
    if member_id is not None:
        q = q.where(Event.member_id == member_id)
    if kind is not None:
        q = q.where(Event.kind == kind)
    q = q.order_by(Event.id.desc() if newest_first else Event.id).limit(limit)
    return [event_dict(e, name, label) for e, name, label in s.execute(q)]


def last_event_id(s: Session) -> int:
    return int(s.execute(select(func.max(Event.id))).scalar() or 0)
