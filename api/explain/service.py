"""Why a name is allowed or refused for a device at a time: the same answer as
``chamberguard explain``, computed from the same policy snapshot the gate would load."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api import validation
from monitor.settings import Settings
from monitor.store.policy_loader import load_policy
from monitor.store.types import utcnow


def explain(s: Session, *, settings: Settings, domain: str, device: str | None = None,
            at: datetime | None = None) -> dict[str, object]:
    name = validation.domain(domain)
    mac = validation.mac(device) if device else None
    at = at or utcnow()
    policy = load_policy(s, settings, at)
    decision = policy.decide(name, mac, at)
    out = decision.as_dict()
    out["at"] = at.isoformat()
    out["device"] = mac
    out["mode"] = policy.mode.value
    out["platform_name"] = policy.platform_name(decision.platform)
    return out
