"""Episodes for the dashboard and API: lookups of one platform by one device, grouped.

``GET /api/v1/episodes?meeting_id=&member_id=&since=&until=`` — the live dashboard asks for
the meeting in session; ``ongoing`` says an episode would still absorb a lookup made now;
``label`` is "opened" or "background" by the installation's opened rule (``opened_rule``).
Grouping is :func:`allowlist.episodes.group_episodes` (edge rule documented there).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from allowlist.episodes import Episode
from allowlist.wording import EpisodeFacts, episode_sentence, label_text
from api.auth.deps import require
from api.auth.roles import LIVE_VIEW
from api.events.service import platform_names
from api.session import DbSession
from api.users.service import Principal
from api.validation import MAX_ID
from monitor.evidence.episodes import EpisodeRule, query_episodes, rule_of
from monitor.settings import Settings
from monitor.store.models import Device, Member

router = APIRouter(prefix="/api/v1/episodes", tags=["events"])
DEFAULT_WINDOW = timedelta(hours=12)  # neither meeting nor start given: the last 12 hours


def episode_text(ep: Episode, *, member: str | None, device: str | None) -> str:
    """The episode's sentence alone (the live page remakes it on every change)."""
    name = platform_names().get(ep.platform, ep.platform)
    return episode_sentence(EpisodeFacts.of(ep, name), member, device)


def episode_dict(ep: Episode, *, member: str | None, device: str | None, now: datetime,
                 gap: timedelta) -> dict[str, object]:
    name = platform_names().get(ep.platform, ep.platform)
    return {
        "device_id": ep.device_id, "device": device, "mac": ep.mac, "member_id": ep.member_id,
        "member": member, "platform": ep.platform, "platform_name": name,
        "first": ep.first.isoformat(), "last": ep.last.isoformat(), "lookups": ep.lookups,
        "ongoing": ep.ongoing(now, gap), "meeting_ids": sorted(ep.meeting_ids),
        "domains": sorted(ep.domains), "hosts": len(ep.domains), "seconds": ep.seconds,
        "channels": sorted(ep.channels), "connection_attempted": ep.connection,
        "reached_platform": ep.reached, "label": ep.label.value,
        "label_text": label_text(ep.label),
        "text": episode_text(ep, member=member, device=device),
    }


def list_episodes(s: Session, *, rule: EpisodeRule, now: datetime, meeting_id: int | None,
                  member_id: int | None, since: datetime | None,
                  until: datetime | None) -> list[dict[str, object]]:
    if meeting_id is None and since is None:
        since = now - DEFAULT_WINDOW
    gap = rule.gap
    eps = query_episodes(s, rule=rule, meeting_id=meeting_id, member_id=member_id,
                         since=since, until=until)
    member_ids = {e.member_id for e in eps if e.member_id is not None}
    device_ids = {e.device_id for e in eps if e.device_id is not None}
    members = {i: n for i, n in s.execute(
        select(Member.id, Member.name).where(Member.id.in_(member_ids)))}
    devices = {i: n for i, n in s.execute(
        select(Device.id, Device.label).where(Device.id.in_(device_ids)))}
    return [episode_dict(e, member=members.get(e.member_id) if e.member_id is not None else None,
                         device=devices.get(e.device_id) if e.device_id is not None else None,
                         now=now, gap=gap) for e in eps]


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


@router.get("")
async def get_episodes(
    request: Request, s: DbSession,
    _: Annotated[Principal, Depends(require(LIVE_VIEW))],
    meeting_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    member_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; naive means UTC")] = None,
    until: Annotated[datetime | None, Query(description="exclusive")] = None,
) -> dict[str, object]:
    settings: Settings = request.app.state.settings
    rule = rule_of(settings)
    now = datetime.now(UTC)

    def _load() -> list[dict[str, object]]:
        return list_episodes(s, rule=rule, now=now, meeting_id=meeting_id,
                             member_id=member_id, since=_aware(since), until=_aware(until))

    items = await run_in_threadpool(_load)
    return {"gap_minutes": settings.policy.episode_gap_minutes,
            "opened_rule": rule.opened.describe(), "now": now.isoformat(), "items": items}
