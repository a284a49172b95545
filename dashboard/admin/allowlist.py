"""The allowlist page: rules, presets, flagged rules, and "why is X allowed or refused?"."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from allowlist.decision import Action, Decision, Restriction
from api import validation
from api.errors import ServiceError
from api.explain.service import explain
from api.platforms import service as platforms
from api.presets.service import list_presets
from api.rules import service as rules
from api.rules.risk import flagged_rules
from api.rules.service import IT_CATEGORIES
from api.session import DbSession
from dashboard import queries as q
from dashboard.admin.common import Admin, base, settings_of
from dashboard.admin.wording import CATEGORY_TEXT, PRESET_WARNING
from dashboard.web import render
from monitor.settings import Settings
from monitor.store.models import Device, PresetRow
from monitor.store.policy_loader import load_policy

router = APIRouter(include_in_schema=False)


def _verdict(d: Decision, mode: str) -> dict[str, Any]:
    if d.action is Action.ALLOW:
        icon, label, cls = "✓", "Allowed", "allow"
    elif d.action is Action.REFUSE:
        icon, label, cls = "✗", "Refused", "refuse"
    else:
        icon, label, cls = "!", "Would be refused (monitor-only: recorded, not blocked)", "observe"
    return {"icon": icon, "label": label, "cls": cls, "reason": d.reason,
            "category": d.category.value, "rule": d.rule.describe() if d.rule else None,
            "mode": mode}


def explain_box(s: Session, settings: Settings, *, domain: str, device: str | None,
                now: datetime) -> dict[str, Any]:
    """"Why is X allowed or refused?": the verdict during a meeting for a member's device
    (what IT usually means), and the verdict right now (the explain service's answer)."""
    name = validation.domain(domain)
    mac = validation.mac(device) if device else None
    policy = load_policy(s, settings, now)
    during = policy.decide_for(name, Restriction(True, "a meeting is in session"))
    now_d = explain(s, settings=settings, domain=name, device=mac, at=now)
    right_now = {
        "icon": "✓" if now_d["action"] == "allow" else ("✗" if now_d["action"] == "refuse"
                                                         else "!"),
        "label": {"allow": "Allowed", "refuse": "Refused"}.get(
            str(now_d["action"]), "Would be refused (monitor-only)"),
        "cls": {"allow": "allow", "refuse": "refuse"}.get(str(now_d["action"]), "observe"),
        "reason": now_d["reason"], "category": now_d["category"], "rule": now_d["rule"],
    }
    return {"domain": name, "device": mac, "during": _verdict(during, policy.mode.value),
            "now": right_now, "platform": policy.platform_name(during.platform)}


def allowlist_view(request: Request, s: Session, *, done_code: str | None = None,
                   error: str | None = None, status: int = 200,
                   form: Mapping[str, str] | None = None, check: str | None = None,
                   device: str | None = None) -> Response:
    """The page, also re-rendered by the rule and preset forms with their refusal."""
    settings = settings_of(request)
    now = datetime.now(UTC)
    ctx = base("allowlist", done_code, error)
    box: dict[str, Any] | None = None
    box_error = None
    if check:
        try:
            box = explain_box(s, settings, domain=check, device=device or None, now=now)
        except ServiceError as exc:
            box_error = exc.message
    rows, _ = rules.list_rules(s, limit=2000, offset=0)
    flagged = flagged_rules(s)
    presets = list_presets(s, settings=settings)
    reg_devices = list(s.execute(
        select(Device).options(selectinload(Device.member))
        .where(Device.member_id.is_not(None)).order_by(Device.id)).scalars())
    ctx.update(
        rules=rows, presets=presets, warnings=PRESET_WARNING, flagged=flagged,
        flagged_ids={r.id for r, _ in flagged},
        presets_customised=bool(s.execute(select(func.count()).select_from(PresetRow))
                                .scalar_one()),
        platforms=platforms.list_platforms(s), categories=CATEGORY_TEXT,
        it_categories=sorted(c.value for c in IT_CATEGORIES), form=form or {},
        check=check or "", device=device or "", box=box, box_error=box_error,
        reg_devices=reg_devices,
        missing_essential=[p for p in presets if not p["enabled"] and p["key"]
                           in q.ESSENTIAL_PRESETS])
    return render(request, "admin/allowlist.html", ctx, status=status)


@router.get("/admin/allowlist", response_class=HTMLResponse)
def allowlist_page(
    request: Request, s: DbSession, who: Admin, done: str | None = None,
    check: Annotated[str | None, Query(max_length=300)] = None,
    device: Annotated[str | None, Query(max_length=40)] = None,
    propose: Annotated[str | None, Query(max_length=253)] = None,
    note: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """``propose``/``note``: "allow this host" from a device's page fills in the rule form
    (IT still chooses the category and adds it)."""
    form = {"domain": propose.strip(), "note": (note or "").strip()} if propose else None
    return allowlist_view(request, s, done_code=done,
                          check=(check or propose or "").strip() or None,
                          device=(device or "").strip() or None, form=form)
