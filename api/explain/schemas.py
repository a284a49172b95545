"""The explain verdict: Decision.as_dict() plus time, device, mode and platform name."""

from __future__ import annotations

from pydantic import BaseModel


class ExplainOut(BaseModel):
    domain: str
    action: str
    kind: str
    category: str
    platform: str | None
    rule: str | None
    rule_domain: str | None
    reason: str
    restricted: bool
    meeting_id: int | None
    device_id: int | None
    member_id: int | None
    bypass: str | None
    at: str
    device: str | None
    mode: str
    platform_name: str | None
