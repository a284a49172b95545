"""IT's pages (allowlist and presets with "why is X allowed?", platforms, members and devices,
meetings import and sync, users and roles, site mode) and the audit log.

Every page works without JavaScript. A successful change redirects back to its page with a
fixed message (``?done=``); a refused one re-renders the page with the service's own words
and the form as typed. Destructive or risky changes ask first (a confirmation page, or a
dialog from confirm.js). All writes go through the api services, so they are validated and
audited exactly as the JSON API's are.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from allowlist.categories import Category, Mode
from allowlist.clock import LONDON
from allowlist.decision import Action, Decision, Restriction
from allowlist.macs import is_randomised
from api import validation
from api.audit.service import page_audit
from api.auth.deps import database
from api.auth.roles import AUDIT, CONFIGURE, Role
from api.devices import importer
from api.devices import service as devices
from api.errors import Invalid, ServiceError
from api.explain.service import explain
from api.meetings import service as meetings
from api.meetings import sync as meetings_sync
from api.meetings.sources.detect import parse_document
from api.meetings.sources.model import SourceError
from api.members import service as members
from api.platforms import service as platforms
from api.presets.service import list_presets, set_preset
from api.rules import service as rules
from api.rules.risk import flagged_rules
from api.rules.service import IT_CATEGORIES
from api.site.service import mode_view, set_mode
from api.users import service as users
from api.users.service import Principal
from api.validation import IdPath
from dashboard import audit_view
from dashboard import queries as q
from dashboard.web import PageError, page, render
from monitor.evidence.privacy import LEVEL_TEXT
from monitor.evidence.retention import retention_status
from monitor.settings import Settings
from monitor.store.models import Device, Member, PresetRow, RuleRow, User
from monitor.store.policy_loader import load_policy

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(page(CONFIGURE))]
Auditor = Annotated[Principal, Depends(page(AUDIT))]

MAX_UPLOAD = 2 * 1024 * 1024  # the app's body cap; said here so the message can name it

DONE = {
    "mode": "Site mode changed.",
    "rule-added": "Rule added. The gate picks it up within a few seconds.",
    "rule-deleted": "Rule deleted.",
    "preset-on": "Preset switched on.",
    "preset-off": "Preset switched off.",
    "platform-added": "Platform domains added.",
    "platform-removed": "Platform domain removed.",
    "member-added": "Member added.",
    "member-updated": "Member updated.",
    "device-added": "Device added.",
    "device-added-randomised": "Device added. Its address is a private (randomised) one: it "
                               "stays the same on this Wi-Fi unless the phone is set to rotate "
                               "it; if it changes, the device appears under “Seen but not "
                               "registered” again.",
    "device-claimed": "Device registered to the member.",
    "device-revoked": "Device revoked: it is no longer restricted during meetings.",
    "meeting-added": "Meeting added.",
    "meeting-updated": "Meeting changed.", "meeting-cancelled": "Meeting cancelled.",
    "meeting-deleted": "Meeting deleted.",
    "scope": "Committee scope changed.",
    "user-added": "User added.",
    "user-updated": "User updated.",
}
PRESET_WARNING = {
    "os-connectivity": "Without this preset, phones decide the chamber Wi-Fi has no internet "
                       "and leave it for mobile data — where nothing is filtered or recorded.",
    "moderngov": "Without this preset, members cannot open their agenda papers during "
                 "meetings.",
    "public-i": "Without this preset, members cannot watch the webcast during meetings.",
    "certificates": "Without this preset, secure sites (including the agenda) may fail to "
                    "open on some devices.",
}
CATEGORY_TEXT = {
    "agenda": "Agenda (allowed)", "webcast": "Webcast (allowed)",
    "essential": "Essential (allowed)", "platform": "Social platform (refused)",
    "blocked": "Blocked (refused)",
}
ROLE_TEXT = {Role.CLERK: "Clerk", Role.IT_ADMIN: "IT admin",
             Role.MONITORING_OFFICER: "Monitoring officer", Role.VIEWER: "Viewer (read-only)"}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _done(path: str, code: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?done={code}", status_code=303)


def _confirm(request: Request, *, title: str, message: str, action: str,
             fields: Mapping[str, str], yes: str, back: str) -> Response:
    """The no-JavaScript confirmation: the same form again with confirmed=1."""
    return render(request, "admin/confirm.html", {
        "title": title, "message": message, "action": action, "fields": fields, "yes": yes,
        "back": back})


def _base(request: Request, page_name: str, done: str | None, error: str | None,
          details: list[str] | None = None) -> dict[str, Any]:
    return {"page": page_name, "done": DONE.get(done or ""), "error": error,
            "details": details or [], "now": datetime.now(UTC)}


# ---------------------------------------------------------------------------- overview


def _overview(request: Request, *, done: str | None = None, error: str | None = None,
              status: int = 200) -> Response:
    settings = _settings(request)
    now = datetime.now(UTC)
    with database(request).session() as s:
        site = q.site_view(s, settings, now)
        upcoming = q.upcoming_meetings(s, settings, now, limit=1)
        counts = {
            "members": s.execute(select(func.count()).select_from(Member)
                                 .where(Member.active.is_(True))).scalar_one(),
            "devices": s.execute(select(func.count()).select_from(Device)
                                 .where(Device.member_id.is_not(None))).scalar_one(),
            "unregistered": devices.unregistered_seen(s, limit=1, offset=0)[1],
            "rules": s.execute(select(func.count()).select_from(RuleRow)).scalar_one(),
        }
        ctx = _base(request, "overview", done, error)
        ctx.update(site=site, checks=q.readiness(s, settings, site, upcoming[0] if upcoming
                                                 else None),
                   mode=mode_view(s, settings=settings), counts=counts,
                   retention=retention_status(s.connection(), settings),
                   privacy_text=LEVEL_TEXT[site.privacy_level])
        return render(request, "admin/overview.html", ctx, status=status)


@router.get("/admin", response_class=HTMLResponse)
def overview(request: Request, who: Admin, done: str | None = None) -> Response:
    return _overview(request, done=done)


@router.post("/admin/site/mode", response_class=HTMLResponse)
def site_mode(request: Request, who: Admin, mode: Annotated[str, Form(max_length=20)],
              confirmed: Annotated[str, Form(max_length=5)] = "0") -> Response:
    if mode == Mode.MONITOR_ONLY.value and confirmed != "1":
        return _confirm(request, title="Switch to monitor-only?",
                        message="Nothing will be blocked in any meeting until you switch back; "
                                "attempts are still recorded, and the dashboard and reports "
                                "say so.",
                        action="/admin/site/mode", fields={"mode": mode},
                        yes="Yes, switch to monitor-only", back="/admin")
    try:
        with database(request).session() as s:
            try:
                set_mode(s, mode=mode, settings=_settings(request), actor=who.username)
            except ValueError:
                raise Invalid(f"unknown mode {mode!r}") from None
    except ServiceError as exc:
        return _overview(request, error=exc.message, status=exc.status)
    return _done("/admin", "mode")


# ---------------------------------------------------------------------------- allowlist


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


def _allowlist(request: Request, *, done: str | None = None, error: str | None = None,
               status: int = 200, form: Mapping[str, str] | None = None,
               check: str | None = None, device: str | None = None) -> Response:
    settings = _settings(request)
    now = datetime.now(UTC)
    with database(request).session() as s:
        ctx = _base(request, "allowlist", done, error)
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
    request: Request, who: Admin, done: str | None = None,
    check: Annotated[str | None, Query(max_length=300)] = None,
    device: Annotated[str | None, Query(max_length=40)] = None,
    propose: Annotated[str | None, Query(max_length=253)] = None,
    note: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """``propose``/``note``: "allow this host" from a device's page fills in the rule form
    (IT still chooses the category and adds it)."""
    form = {"domain": propose.strip(), "note": (note or "").strip()} if propose else None
    return _allowlist(request, done=done, check=(check or propose or "").strip() or None,
                      device=(device or "").strip() or None, form=form)


@router.post("/admin/allowlist/rules", response_class=HTMLResponse)
def add_rule(
    request: Request, who: Admin,
    domain: Annotated[str, Form(max_length=300)],
    category: Annotated[str, Form(max_length=20)],
    platform: Annotated[str, Form(max_length=50)] = "",
    exact: Annotated[str, Form(max_length=5)] = "",
    note: Annotated[str, Form(max_length=600)] = "",
    confirm_effect: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """A rule that would allow a platform or a public suffix is asked about first: the
    confirmation page names its effect and sends it back as ``confirm_effect``."""
    try:
        with database(request).session() as s:
            rules.create_rule(s, domain=domain, category=category,
                              platform=platform.strip() if category == Category.PLATFORM.value
                              and platform.strip() else None,
                              exact=bool(exact), note=note, actor=who.username,
                              confirm_effect=confirm_effect or None)
    except rules.ConfirmationNeeded as exc:
        eff = str((exc.details or {}).get("effect", ""))
        return _confirm(request, title="This rule opens a platform or a public suffix",
                        message=eff, action="/admin/allowlist/rules",
                        fields={"domain": domain, "category": category, "platform": platform,
                                "exact": exact, "note": note, "confirm_effect": eff},
                        yes="I understand: add the rule", back="/admin/allowlist")
    except ServiceError as exc:
        return _allowlist(request, error=exc.message, status=exc.status,
                          form={"domain": domain, "category": category, "platform": platform,
                                "exact": exact, "note": note})
    return _done("/admin/allowlist", "rule-added")


@router.post("/admin/allowlist/rules/{rule_id}/delete", response_class=HTMLResponse)
def delete_rule(request: Request, rule_id: IdPath, who: Admin,
                confirmed: Annotated[str, Form(max_length=5)] = "0") -> Response:
    try:
        with database(request).session() as s:
            r = rules.get_rule(s, rule_id=rule_id)
            if confirmed != "1":
                what = f"{r.domain}{'' if r.exact else ' and its subdomains'}"
                return _confirm(request, title="Delete this rule?",
                                message=f"The rule for {what} ({r.category}) will be deleted. "
                                "Names it matched fall back to the presets and catalogue.",
                                action=f"/admin/allowlist/rules/{rule_id}/delete", fields={},
                                yes="Yes, delete the rule", back="/admin/allowlist")
            rules.delete_rule(s, rule_id=rule_id, actor=who.username)
    except ServiceError as exc:
        return _allowlist(request, error=exc.message, status=exc.status)
    return _done("/admin/allowlist", "rule-deleted")


@router.post("/admin/presets/{key}", response_class=HTMLResponse)
def toggle_preset(request: Request, key: Annotated[str, Path(max_length=50)],
                  who: Admin, enabled: Annotated[str, Form(max_length=5)] = "0",
                  confirmed: Annotated[str, Form(max_length=5)] = "0") -> Response:
    on = enabled == "1"
    if not on and key in PRESET_WARNING and confirmed != "1":
        return _confirm(request, title=f"Switch off “{key}”?", message=PRESET_WARNING[key],
                        action=f"/admin/presets/{key}", fields={"enabled": "0"},
                        yes="Yes, switch it off", back="/admin/allowlist#presets")
    try:
        with database(request).session() as s:
            set_preset(s, key=key, enabled=on, settings=_settings(request), actor=who.username)
    except ServiceError as exc:
        return _allowlist(request, error=exc.message, status=exc.status)
    return _done("/admin/allowlist", "preset-on" if on else "preset-off")


# ---------------------------------------------------------------------------- platforms


def _platforms(request: Request, *, done: str | None = None, error: str | None = None,
               status: int = 200, form: Mapping[str, str] | None = None) -> Response:
    with database(request).session() as s:
        ctx = _base(request, "platforms", done, error)
        ctx.update(platforms=platforms.list_platforms(s), form=form or {})
        return render(request, "admin/platforms.html", ctx, status=status)


@router.get("/admin/platforms", response_class=HTMLResponse)
def platforms_page(request: Request, who: Admin, done: str | None = None) -> Response:
    return _platforms(request, done=done)


@router.post("/admin/platforms", response_class=HTMLResponse)
def add_platform_domains(
    request: Request, who: Admin,
    key: Annotated[str, Form(max_length=32)],
    domains: Annotated[str, Form(max_length=5000)],
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    suffixes = [d for d in domains.replace(",", " ").split() if d]
    try:
        if not key.strip() or not suffixes:
            raise Invalid("give the platform's key and at least one domain")
        with database(request).session() as s:
            platforms.add_domains(s, key=key.strip().lower(), suffixes=suffixes,
                                  name=name.strip() or None, actor=who.username)
    except ServiceError as exc:
        return _platforms(request, error=exc.message, status=exc.status,
                          form={"key": key, "domains": domains, "name": name})
    return _done("/admin/platforms", "platform-added")


@router.post("/admin/platforms/{key}/remove", response_class=HTMLResponse)
def remove_platform_domain(request: Request, key: Annotated[str, Path(max_length=32)],
                           who: Admin, domain: Annotated[str, Form(max_length=300)]) -> Response:
    try:
        with database(request).session() as s:
            platforms.remove_domain(s, key=key, domain=domain, actor=who.username)
    except ServiceError as exc:
        return _platforms(request, error=exc.message, status=exc.status)
    return _done("/admin/platforms", "platform-removed")


# ---------------------------------------------------------------------------- members, devices


def _devices(request: Request, *, done: str | None = None, error: str | None = None,
             details: list[str] | None = None, status: int = 200,
             form: Mapping[str, str] | None = None,
             imported: Mapping[str, object] | None = None) -> Response:
    with database(request).session() as s:
        ctx = _base(request, "devices", done, error, details)
        all_members = list(s.execute(select(Member).options(selectinload(Member.devices))
                                     .order_by(Member.name)).scalars())
        unregistered, unregistered_total = devices.unregistered_seen(s, limit=200, offset=0)
        registered = list(s.execute(
            select(Device).options(selectinload(Device.member))
            .where(Device.member_id.is_not(None)).order_by(Device.id)).scalars())
        known = list(s.execute(
            select(Device).where(Device.member_id.is_(None), Device.last_seen.is_(None))
            .order_by(Device.id)).scalars())
        ctx.update(members=all_members, active_members=[m for m in all_members if m.active],
                   unregistered=unregistered, unregistered_total=unregistered_total,
                   registered=registered, known=known, form=form or {}, imported=imported,
                   randomised=is_randomised,
                   present_after=datetime.now(UTC) - timedelta(minutes=q.PRESENT_MINUTES))
        return render(request, "admin/devices.html", ctx, status=status)


@router.get("/admin/devices", response_class=HTMLResponse)
def devices_page(request: Request, who: Admin, done: str | None = None) -> Response:
    return _devices(request, done=done)


@router.post("/admin/members", response_class=HTMLResponse)
def add_member(request: Request, who: Admin, name: Annotated[str, Form(max_length=300)],
               email: Annotated[str, Form(max_length=320)] = "") -> Response:
    try:
        with database(request).session() as s:
            members.create_member(s, name=name, email=email or None, actor=who.username)
    except ServiceError as exc:
        return _devices(request, error=exc.message, status=exc.status,
                        form={"member_name": name, "member_email": email})
    return _done("/admin/devices", "member-added")


@router.post("/admin/members/{member_id}/active", response_class=HTMLResponse)
def member_active(request: Request, member_id: IdPath, who: Admin,
                  active: Annotated[str, Form(max_length=5)] = "0") -> Response:
    try:
        with database(request).session() as s:
            members.update_member(s, member_id=member_id, active=active == "1",
                                  actor=who.username)
    except ServiceError as exc:
        return _devices(request, error=exc.message, status=exc.status)
    return _done("/admin/devices", "member-updated")


def _member_id(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise Invalid("choose a member from the list")
    return int(raw)


@router.post("/admin/devices", response_class=HTMLResponse)
def add_device(request: Request, who: Admin, mac: Annotated[str, Form(max_length=40)],
               member_id: Annotated[str, Form(max_length=20)] = "",
               label: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        with database(request).session() as s:
            d = devices.add_device(s, mac=mac, member_id=_member_id(member_id),
                                   label=label.strip(), actor=who.username)
            randomised = d.randomised
    except ServiceError as exc:
        return _devices(request, error=exc.message, status=exc.status,
                        form={"mac": mac, "member_id": member_id, "label": label})
    return _done("/admin/devices", "device-added-randomised" if randomised else "device-added")


@router.post("/admin/devices/{device_id}/claim", response_class=HTMLResponse)
def claim(request: Request, device_id: IdPath, who: Admin,
          member_id: Annotated[str, Form(max_length=20)] = "",
          label: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        mid = _member_id(member_id)
        if mid is None:
            raise Invalid("choose the member whose device this is")
        with database(request).session() as s:
            devices.claim_device(s, device_id=device_id, member_id=mid,
                                 label=label.strip() or None, actor=who.username)
    except ServiceError as exc:
        return _devices(request, error=exc.message, status=exc.status)
    return _done("/admin/devices", "device-claimed")


@router.post("/admin/devices/{device_id}/revoke", response_class=HTMLResponse)
def revoke(request: Request, device_id: IdPath, who: Admin,
           confirmed: Annotated[str, Form(max_length=5)] = "0") -> Response:
    try:
        with database(request).session() as s:
            d = devices.get_device(s, device_id=device_id)
            if confirmed != "1":
                owner = d.member.name if d.member else "nobody"
                return _confirm(request, title="Revoke this device?",
                                message=f"{d.label or d.mac} ({d.mac}) will no longer be "
                                f"registered to {owner} and will not be restricted during "
                                "meetings.", action=f"/admin/devices/{device_id}/revoke",
                                fields={}, yes="Yes, revoke it", back="/admin/devices")
            devices.revoke_device(s, device_id=device_id, actor=who.username)
    except ServiceError as exc:
        return _devices(request, error=exc.message, status=exc.status)
    return _done("/admin/devices", "device-revoked")


def _upload(upload: UploadFile | None) -> bytes | None:
    """The uploaded file's bytes; None when no file was chosen (browsers send an empty part)."""
    if upload is None or not upload.filename:
        return None
    data = upload.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise Invalid(f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MB")
    return data


@router.post("/admin/devices/import", response_class=HTMLResponse)
def import_devices(
    request: Request, who: Admin,
    csv_file: Annotated[UploadFile | None, File()] = None,
    csv_text: Annotated[str, Form(max_length=MAX_UPLOAD)] = "",
    dry_run: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """All or nothing (the importer checks every line first); every bad line is listed."""
    try:
        data = _upload(csv_file)
        if data is None:
            text = csv_text
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise Invalid("the file is not UTF-8 text; save it as “CSV UTF-8”") from None
        if not text.strip():
            raise Invalid("choose a CSV file or paste its lines")
        with database(request).session() as s:
            summary = importer.import_devices(s, text=text, dry_run=bool(dry_run),
                                              actor=who.username)
    except ServiceError as exc:
        details = [str(d) for d in exc.details] if isinstance(exc.details, list) else []
        return _devices(request, error=exc.message, details=details, status=exc.status,
                        form={"csv_text": csv_text})
    return _devices(request, imported=summary)


# ---------------------------------------------------------------------------- meetings


def _meetings(request: Request, *, done: str | None = None, error: str | None = None,
              status: int = 200, result: Mapping[str, Any] | None = None,
              form: Mapping[str, str] | None = None) -> Response:
    settings = _settings(request)
    now = datetime.now(UTC)
    grace = timedelta(minutes=settings.policy.grace_minutes)
    with database(request).session() as s:
        rows, total = meetings.search_meetings(s, limit=100, offset=0,
                                               start=now - timedelta(days=1))
        ctx = _base(request, "meetings", done, error)
        ctx.update(meetings=[q.meeting_view(m, grace=grace, now=now) for m in rows
                             if m.removed_at is None],
                   total=total, committees=meetings_sync.list_committees(s, settings=settings),
                   result=result, form=form or {}, source=settings.meetings.moderngov_url
                   or settings.meetings.ical_url, room=settings.site.room)
        return render(request, "admin/meetings.html", ctx, status=status)


@router.get("/admin/meetings", response_class=HTMLResponse)
def meetings_page(request: Request, who: Admin, done: str | None = None) -> Response:
    return _meetings(request, done=done)


@router.post("/admin/meetings/import", response_class=HTMLResponse)
def import_meetings(request: Request, who: Admin,
                    file: Annotated[UploadFile | None, File()] = None) -> Response:
    """A modern.gov XML or iCalendar file: parsed whole first; any problem → nothing
    imported, and the page says what is wrong and where."""
    settings = _settings(request)
    try:
        data = _upload(file)
        if data is None or file is None:
            raise Invalid("choose a file to import (modern.gov XML or iCalendar)")
        try:
            parsed = parse_document(data, content_type=file.content_type)
        except SourceError as exc:
            raise Invalid(f"{file.filename}: {exc}") from None
        with database(request).session() as s:
            result = meetings_sync.import_meetings(s, meetings=parsed, settings=settings,
                                                   actor=who.username,
                                                   source_label=f"upload {file.filename}")
            data_out = result.as_dict()
    except ServiceError as exc:
        return _meetings(request, error=f"Nothing imported: {exc.message}", status=exc.status)
    return _meetings(request, result=data_out)


@router.post("/admin/meetings/sync", response_class=HTMLResponse)
def sync_now(request: Request, who: Admin) -> Response:
    settings = _settings(request)
    try:
        with database(request).session() as s:
            try:
                result = meetings_sync.sync(s, settings=settings, actor=who.username)
            except SourceError as exc:
                raise Invalid(str(exc)) from None
            data = result.as_dict()
    except ServiceError as exc:
        return _meetings(request, error=f"Sync failed, nothing changed: {exc.message}",
                         status=exc.status)
    return _meetings(request, result=data)


@router.post("/admin/meetings/scope", response_class=HTMLResponse)
def committee_scope(request: Request, who: Admin,
                    committee: Annotated[str, Form(max_length=300)],
                    scope: Annotated[str, Form(max_length=10)]) -> Response:
    choice = {"in": True, "out": False, "default": None}
    try:
        if scope not in choice:
            raise Invalid("choose in scope, out of scope or the default")
        with database(request).session() as s:
            meetings_sync.set_committee_scope(s, committee_title_or_id=committee,
                                              in_scope=choice[scope], actor=who.username,
                                              settings=_settings(request))
    except ServiceError as exc:
        return _meetings(request, error=exc.message, status=exc.status)
    return _done("/admin/meetings", "scope")


def _london_time(day: str, hhmm: str, what: str) -> datetime:
    try:
        d = date.fromisoformat(day)
        t = time.fromisoformat(hhmm)
    except ValueError:
        raise Invalid(f"the {what} is not a date and time (e.g. 2026-11-26 and 19:30)") from None
    if not 1900 <= d.year <= 2999:
        raise Invalid("the date must be between the years 1900 and 2999")
    return datetime.combine(d, t, tzinfo=LONDON).astimezone(UTC)


@router.post("/admin/meetings", response_class=HTMLResponse)
def add_meeting(
    request: Request, who: Admin,
    title: Annotated[str, Form(max_length=300)],
    day: Annotated[str, Form(max_length=20)],
    start: Annotated[str, Form(max_length=10)],
    end: Annotated[str, Form(max_length=10)],
    committee: Annotated[str, Form(max_length=300)] = "",
    room: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        starts = _london_time(day, start, "start")
        ends = _london_time(day, end, "end")
        with database(request).session() as s:
            meetings.create_meeting(s, title=title, start=starts, end=ends,
                                    committee_title=committee.strip(),
                                    room=room.strip() or None, actor=who.username)
    except ServiceError as exc:
        return _meetings(request, error=exc.message, status=exc.status,
                         form={"title": title, "day": day, "start": start, "end": end,
                               "committee": committee, "room": room})
    return _done("/admin/meetings", "meeting-added")


# ---------------------------------------------------------------------------- users


def _users(request: Request, *, done: str | None = None, error: str | None = None,
           status: int = 200, form: Mapping[str, str] | None = None) -> Response:
    with database(request).session() as s:
        rows, _ = users.list_users(s, limit=1000, offset=0)
        ctx = _base(request, "users", done, error)
        ctx.update(users=rows, roles=ROLE_TEXT, form=form or {})
        return render(request, "admin/users.html", ctx, status=status)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, who: Admin, done: str | None = None) -> Response:
    return _users(request, done=done)


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(request: Request, who: Admin, username: Annotated[str, Form(max_length=100)],
             password: Annotated[str, Form(max_length=1000)],
             role: Annotated[str, Form(max_length=30)]) -> Response:
    try:
        with database(request).session() as s:
            users.create_user(s, username=username, password=password, role=role,
                              actor=who.username)
    except ServiceError as exc:
        return _users(request, error=exc.message, status=exc.status,
                      form={"username": username, "role": role})
    return _done("/admin/users", "user-added")


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
def update_user(request: Request, user_id: IdPath, who: Admin,
                op: Annotated[str, Form(max_length=20)],
                role: Annotated[str, Form(max_length=30)] = "",
                password: Annotated[str, Form(max_length=1000)] = "",
                confirmed: Annotated[str, Form(max_length=5)] = "0") -> Response:
    try:
        with database(request).session() as s:
            u = s.get(User, user_id)
            if u is None:
                raise PageError(404, f"There is no user {user_id}.")
            if op == "disable" and confirmed != "1":
                return _confirm(request, title=f"Disable {u.username}?",
                                message="They are signed out everywhere and cannot sign in "
                                "until enabled again. Their API tokens stop working.",
                                action=f"/admin/users/{user_id}", fields={"op": "disable"},
                                yes="Yes, disable the account", back="/admin/users")
            if op == "role":
                users.update_user(s, user_id=user_id, role=role, actor=who.username)
            elif op == "disable":
                users.update_user(s, user_id=user_id, disabled=True, actor=who.username)
            elif op == "enable":
                users.update_user(s, user_id=user_id, disabled=False, actor=who.username)
            elif op == "unlock":
                u = users.update_user(s, user_id=user_id, unlock=True, actor=who.username)
                request.app.state.account_throttle.forget_account(u.username)
            elif op == "password":
                users.update_user(s, user_id=user_id, password=password, actor=who.username)
            else:
                raise Invalid(f"unknown change {op!r}")
    except ServiceError as exc:
        return _users(request, error=exc.message, status=exc.status)
    return _done("/admin/users", "user-updated")


# ---------------------------------------------------------------------------- audit

AUDIT_PAGE = 50


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, who: Auditor,
    entity: Annotated[str | None, Query(max_length=60)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    filters = {"entity": (entity or "").strip() or None, "actor": (actor or "").strip() or None,
               "action": (action or "").strip() or None}
    with database(request).session() as s:
        rows, total = page_audit(s, limit=AUDIT_PAGE, offset=offset, entity=filters["entity"],
                                 actor=filters["actor"], action=filters["action"])
        entries = [{
            "id": r.id, "ts": r.ts, "actor": r.actor, "action": r.action, "entity": r.entity,
            "entity_id": r.entity_id, "changes": audit_view.changes(r.before, r.after),
        } for r in rows]
        query = urlencode({k: v for k, v in filters.items() if v})
        return render(request, "audit.html", {
            "entries": entries, "total": total, "offset": offset, "limit": AUDIT_PAGE,
            "filters": {k: v or "" for k, v in filters.items()}, "query": query})

