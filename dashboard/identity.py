"""IT's "Wi-Fi identity" page: the councillors roster from modern.gov, per-member Wi-Fi keys
(generate, rotate) and each member's printable key slip with a Wi-Fi QR code.

Kept apart from the dashboard/admin routers (one job per module); same conventions: every write goes
through an api service (validated, audited with the real actor), success redirects with a
fixed message, a refusal re-renders the page with the service's own words.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.auth.roles import CONFIGURE
from api.errors import Invalid, ServiceError
from api.meetings.sources.model import SourceError
from api.members.roster import fetch_roster, import_roster, parse_roster
from api.session import DbSession, attempt
from api.users.service import Principal
from api.validation import IdPath
from api.wifi import service as wifi
from dashboard.web import page, render
from monitor.settings import Settings

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(page(CONFIGURE))]
MAX_UPLOAD = 2 * 1024 * 1024
DONE = {
    "keys": "Wi-Fi keys generated for every active member who had none. The gate writes "
            "hostapd's key file within a few seconds.",
    "rotated": "New Wi-Fi key issued. The old one stops working when hostapd re-reads its "
               "key file (the gate asks it to within a few seconds): print the new slip.",
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _page(request: Request, s: Session, *, done: str | None = None,
          error: str | None = None, details: list[str] | None = None,
          roster: dict[str, Any] | None = None,
          status: int = 200) -> Response:
    settings = _settings(request)
    rows = wifi.keys(s)
    return render(request, "admin/identity.html", {
        "page": "identity", "done": DONE.get(done or ""), "error": error,
        "details": details or [], "now": datetime.now(UTC), "keys": rows, "roster": roster,
        "ssid": settings.identity.wifi_ssid, "moderngov": settings.meetings.moderngov_url,
        "radius": settings.identity.radius_listen, "hostapd": settings.identity.hostapd_ctrl,
    }, status=status)


@router.get("/admin/identity", response_class=HTMLResponse)
def identity_page(request: Request, s: DbSession, who: Admin,
                  done: str | None = None) -> Response:
    return _page(request, s, done=done)


@router.post("/admin/identity/roster", response_class=HTMLResponse)
def roster_import(request: Request, s: DbSession, who: Admin,
                  file: Annotated[UploadFile | None, File()] = None,
                  dry_run: Annotated[str, Form(max_length=5)] = "") -> Response:
    """An uploaded GetCouncillorsByWard answer, or (no file) the configured modern.gov site.
    Nothing is written unless the whole roster reads."""
    settings = _settings(request)
    try:
        if file is not None and file.filename:
            data = file.file.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                raise Invalid(f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MB")
            try:
                roster = parse_roster(data)
            except SourceError as exc:
                raise Invalid(f"{file.filename}: {exc}",
                              details=getattr(exc, "details", None)) from None
        elif settings.meetings.moderngov_url:
            try:
                roster = fetch_roster(settings.meetings.moderngov_url,
                                      timeout=settings.meetings.timeout_seconds)
            except SourceError as exc:
                raise Invalid(str(exc), details=getattr(exc, "details", None)) from None
        else:
            raise Invalid("choose a GetCouncillorsByWard file (no modern.gov site is "
                          "configured to fetch it from)")
        with attempt(s):
            out = import_roster(s, councillors=roster, actor=who.username,
                                dry_run=bool(dry_run)).as_dict()
    except ServiceError as exc:
        details = [str(d) for d in exc.details] if isinstance(exc.details, list) else []
        return _page(request, s, error=f"Nothing imported: {exc.message}", details=details,
                     status=exc.status)
    return _page(request, s, roster=out)


@router.post("/admin/identity/keys", response_class=HTMLResponse)
def generate_keys(request: Request, s: DbSession, who: Admin) -> Response:
    wifi.ensure_keys(s, actor=who.username)
    return RedirectResponse("/admin/identity?done=keys", status_code=303)


@router.post("/admin/identity/keys/{member_id}/rotate", response_class=HTMLResponse)
def rotate_key(request: Request, s: DbSession, member_id: IdPath, who: Admin) -> Response:
    try:
        with attempt(s):
            wifi.ensure_keys(s, actor=who.username, rotate=[member_id])
    except ServiceError as exc:
        return _page(request, s, error=exc.message, status=exc.status)
    return RedirectResponse("/admin/identity?done=rotated", status_code=303)


@router.get("/admin/identity/keys/{member_id}/slip", response_class=HTMLResponse)
def slip(request: Request, s: DbSession, member_id: IdPath, who: Admin) -> Response:
    """The member's printable slip: network name, their own key, and a QR code to join."""
    ssid = _settings(request).identity.wifi_ssid
    try:
        with attempt(s):
            view = wifi.slip(s, member_id=member_id)
    except ServiceError as exc:
        return _page(request, s, error=exc.message, status=exc.status)
    assert view.passphrase is not None
    qr = wifi.wifi_qr_svg(ssid, view.passphrase) if ssid else None
    return render(request, "admin/wifi_slip.html", {"key": view, "ssid": ssid, "qr": qr})
