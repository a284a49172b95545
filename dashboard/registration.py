"""The member-facing registration pages, served on the chamber Wi-Fi (DESIGN §11).

No login: the member proves who they are with IT's one-time code, and the device is who the
gateway's neighbour table says is asking. So these pages must see the device's own address:
set ``[web] registration_host`` to the gate's chamber address — ``chamberguard web`` then
adds a second listener there serving these pages alone (``chamberguard web
--registration-only`` runs just that listener, e.g. in the gate's network namespace, as the
demo does). Never point the main web app (``--host``) at the chamber side: that would serve
the staff login to every phone on the chamber Wi-Fi. A proxy in front must be listed in
``[web] trusted_proxies`` for its X-Forwarded-For to be believed. Members open
``http://<gate chamber address>:<port>/register`` — an address, no DNS, so it works for a
restricted device mid-meeting: the web app is on the gateway itself (nftables filters only
forwarded traffic). A host name for the page must be an essential allow rule IT adds.

    GET  /register                the form, and what registering means
    POST /register                code (+ optional name) → this device is the member's
    GET  /register/mine           the devices of the member who owns the asking device
    POST /register/mine/remove    remove one of them (not while a meeting is in session)
    GET  /register/privacy        the notice for members: what is recorded, how long, who sees

The last two want two things: the asking device's MAC (neighbour table) *and* the secret
cookie it was given when it registered itself here. A MAC alone is not proof — any device
can copy one — so a device without the cookie sees no one's devices.

Forms use a double-submit cookie (like the login page). Wrong, expired or used codes are
limited per client address: five in fifteen minutes, then a clear "wait" page.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from allowlist.clock import to_london
from api.auth.throttle import LoginThrottle
from api.errors import Conflict, NotFound, ServiceError
from api.registration import service
from api.session import DbSession, attempt
from monitor.netlink import dump_neighbours
from monitor.settings import Settings
from monitor.store.models import Device

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
CSRF_COOKIE = "cg_register_csrf"
# The secret a device gets when it registers itself: the proof, beside its MAC, that it is
# that device ("my devices" shows and removes a member's devices). A long life: browsers cap
# a cookie at about 400 days; after that the member registers again with a code.
DEVICE_COOKIE = "cg_device"
DEVICE_COOKIE_DAYS = 400
MAX_WRONG_CODES = 5
WINDOW_SECONDS = 15 * 60
REGISTERED = "This device is now registered to you."

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))


# -- plumbing -------------------------------------------------------------------------------
def throttle(request: Request) -> LoginThrottle:
    """Wrong codes per client address (in memory: one web process per site, like logins)."""
    t: LoginThrottle | None = getattr(request.app.state, "registration_throttle", None)
    if t is None:
        t = LoginThrottle(max_failures=MAX_WRONG_CODES, window=WINDOW_SECONDS)
        request.app.state.registration_throttle = t
    return t


def _neighbours(request: Request) -> Callable[[], Mapping[str, str]]:
    """The kernel's neighbour table (tests put a stand-in on app.state)."""
    dump: Callable[[], Mapping[str, str]] | None = getattr(request.app.state, "neighbour_dump",
                                                           None)
    return dump or dump_neighbours


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _mac(request: Request) -> str | None:
    settings: Settings = request.app.state.settings
    return await run_in_threadpool(service.mac_for_client, _address(request),
                                   settings.chamber.subnets, _neighbours(request))


def _wifi(settings: Settings) -> str:
    ssid = str(getattr(settings.chamber, "ssid", "") or "")
    return f"the chamber Wi-Fi ({ssid})" if ssid else "the chamber Wi-Fi"


def unidentified_message(settings: Settings) -> str:
    wifi = _wifi(settings)
    return (f"We could not identify this device on the chamber Wi-Fi. Are you connected to "
            f"{wifi}? If you are on mobile data or another network, connect to {wifi} and "
            "reload this page. If you are connected, turn Wi-Fi off and on again, or ask IT "
            "for help.")


def _context(request: Request, **extra: Any) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return {"site_name": settings.site.name, "wifi": _wifi(settings),
            "agenda_host": settings.policy.democracy_host,
            "webcast_host": settings.policy.webcast_host,
            "retention_days": settings.retention.events_days, **extra}


def _page(request: Request, template: str, context: dict[str, Any], *, status: int = 200,
          new_token: bool = False) -> Response:
    """Render, and (re)issue the form token: one cookie, echoed in every form on the page."""
    token = None if new_token else request.cookies.get(CSRF_COOKIE)
    token = token if token and len(token) <= 100 else secrets.token_urlsafe(24)
    resp = templates.TemplateResponse(request, template, {**context, "csrf": token},
                                      status_code=status)
    # Secure only over HTTPS: the chamber page is usually plain HTTP to the gate's address,
    # where a Secure cookie would never come back and every form would fail.
    resp.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/register",
                    secure=request.url.scheme == "https")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _device_key(request: Request) -> str:
    key = request.cookies.get(DEVICE_COOKIE, "")
    return key if len(key) <= 100 else ""


def _csrf_ok(request: Request, sent: str) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(sent and cookie) and secrets.compare_digest(sent.encode(), cookie.encode())


def _when(device: Device) -> str:
    if device.last_seen is None:
        return "not yet"
    return to_london(device.last_seen).strftime("%-d %B %Y, %H:%M")


def _device_view(d: Device, this: Device) -> dict[str, Any]:
    return {"id": d.id, "name": d.label or d.hostname or "Unnamed device",
            "this": d.id == this.id, "randomised": d.randomised, "last_seen": _when(d),
            "mac_tail": d.mac[-5:]}


# -- the form -------------------------------------------------------------------------------
@router.get("/register")
async def register_form(request: Request, s: DbSession) -> Response:
    mac = await _mac(request)
    already = None
    if mac is not None:
        key = _device_key(request)

        def _mine() -> str | None:
            mine = service.my_devices(s, mac=mac, key=key)
            return mine.member.name if mine else None

        already = await run_in_threadpool(_mine)
    error = None if mac is not None else unidentified_message(request.app.state.settings)
    return _page(request, "register.html",
                 _context(request, error=error, already=already, name=""))


@router.post("/register")
async def register_submit(
    request: Request, s: DbSession,
    code: Annotated[str, Form(max_length=100)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    address = _address(request)
    limiter = throttle(request)

    def again(message: str, status: int, *, new_token: bool = False) -> Response:
        return _page(request, "register.html",
                     _context(request, error=message, already=None, name=name),
                     status=status, new_token=new_token)

    wait = limiter.retry_after(address)
    if wait is not None:
        minutes = max(1, math.ceil(wait / 60))
        resp = again(f"Too many wrong codes have been tried from this device. Please wait "
                     f"{minutes} minute{'s' if minutes != 1 else ''} and try again, or ask IT "
                     "for help.", 429)
        resp.headers["Retry-After"] = str(wait)
        return resp
    if not _csrf_ok(request, csrf_token):
        return again("This form had expired. Please enter your code again.", 400,
                     new_token=True)
    mac = await _mac(request)
    if mac is None:
        return again(unidentified_message(request.app.state.settings), 403)

    def _redeem() -> service.Registered:
        with attempt(s):  # a refused code leaves nothing behind but what the service kept
            return service.redeem_code(s, raw_code=code, mac=mac, name=name)

    try:
        done = await run_in_threadpool(_redeem)
    except service.CodeRefused as exc:
        if exc.problem is not service.CodeProblem.MALFORMED:
            limiter.failed(address)  # malformed input is never looked up, so costs nothing
        return again(exc.message, 400)
    except service.RegistrationConflict as exc:
        return again(exc.message, 409)
    except ServiceError as exc:
        log.warning("self-registration from %s failed: %s", address, exc.message)
        return again("Something went wrong registering this device. Please ask IT.", 400)
    resp = RedirectResponse("/register/mine?registered=1", status_code=303)
    resp.set_cookie(DEVICE_COOKIE, done.key, max_age=DEVICE_COOKIE_DAYS * 86400,
                    httponly=True, samesite="strict", path="/register",
                    secure=request.url.scheme == "https")
    return resp


# -- the notice ----------------------------------------------------------------------------
@router.get("/register/privacy")
async def privacy_notice(request: Request, s: DbSession) -> Response:
    """The members' notice (dashboard.privacy), from the same facts as the DPIA draft."""
    from api.privacy.facts import gather
    from dashboard.privacy import render

    settings: Settings = request.app.state.settings

    def _html() -> str:
        return render.notice_html(gather(s, settings), registration=True)

    body = await run_in_threadpool(_html)
    return Response(body, media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store",
                             "Content-Security-Policy": render.csp()})


# -- my devices -----------------------------------------------------------------------------
async def _mine_page(request: Request, s: Session, *, notice: str | None = None,
                     error: str | None = None, status: int = 200) -> Response:
    settings: Settings = request.app.state.settings
    mac = await _mac(request)
    if mac is None:
        return _page(request, "register_mine.html",
                     _context(request, error=unidentified_message(settings), member=None,
                              devices=[], notice=notice, meeting=None), status=403)

    key = _device_key(request)

    def _load() -> dict[str, Any]:
        mine = service.my_devices(s, mac=mac, key=key)
        if mine is None:
            return {"member": None, "devices": [], "this": None, "meeting": None}
        meeting = service.meeting_now(s, room=settings.site.room,
                                      grace=timedelta(minutes=settings.policy.grace_minutes))
        return {"member": mine.member.name,
                "devices": [_device_view(d, mine.this) for d in mine.devices],
                "this": _device_view(mine.this, mine.this),
                "meeting": meeting.title if meeting else None}

    data = await run_in_threadpool(_load)
    if data["member"] is None and notice == REGISTERED:
        notice = None  # a stale or hand-typed link: the page must not claim what is not so
    return _page(request, "register_mine.html",
                 _context(request, error=error, notice=notice, **data), status=status)


@router.get("/register/mine")
async def my_devices(request: Request, s: DbSession, registered: str = "",
                     removed: str = "") -> Response:
    notice = (REGISTERED if registered == "1"
              else "The device has been removed." if removed == "1" else None)
    return await _mine_page(request, s, notice=notice)


@router.post("/register/mine/remove")
async def remove_device(
    request: Request, s: DbSession,
    device_id: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    settings: Settings = request.app.state.settings
    if not _csrf_ok(request, csrf_token):
        return await _mine_page(request, s, error="This form had expired. Please try again.",
                                status=400)
    mac = await _mac(request)
    if mac is None:
        return await _mine_page(request, s)  # explains that the device is not identified
    target = int(device_id) if device_id.isascii() and device_id.isdigit() else 0
    key = _device_key(request)

    def _remove() -> None:
        with attempt(s):
            service.remove_own_device(s, mac=mac, key=key, device_id=target,
                                      room=settings.site.room,
                                      grace=timedelta(minutes=settings.policy.grace_minutes))

    try:
        await run_in_threadpool(_remove)
    except NotFound as exc:
        return await _mine_page(request, s, error=exc.message[:1].upper() + exc.message[1:] + ".",
                                status=404)
    except Conflict as exc:
        return await _mine_page(request, s, error=exc.message, status=409)
    return RedirectResponse("/register/mine?removed=1", status_code=303)
