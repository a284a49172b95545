"""The clerk's live view (/), its live fragment, the clerk's actions, and meeting reports.

Live updates: live.js listens to ``/live/stream`` (SSE: "the meeting moved, up to event N",
from one reader for all browsers, :mod:`dashboard.live_ticker`) and re-fetches
``/live/fragment?after=N`` — the same partials the page was rendered from — and every few
seconds for the clock, presence and the gate's health. Without JavaScript the page is
complete; it just does not move until reloaded.

A meeting's numbers come from its running state (:mod:`dashboard.live_state`): new events
only, folded once for every browser. What the fragment shows is shared too: browsers asking
within ``SHARED_FOR`` of each other get the same view (only their own buttons differ) as long
as it covers the event they were told of, so a room of open screens costs about what one
does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from allowlist.clock import ClerkAction, SessionState
from api.auth.deps import database
from api.auth.roles import CHAMBER_CHECK, CLERK_ACTIONS, LIVE_VIEW, REPORTS, Role
from api.errors import ServiceError
from api.events.live import live_feed
from api.meetings.overrun import (
    EXTEND_MINUTES,
    REASON_MAX,
    exemptions_of,
    extend_meeting,
    grant_exemption,
    withdraw_exemption,
)
from api.meetings.service import clerk_action
from api.users.service import Principal
from api.validation import MAX_ID, IdPath
from dashboard import queries as q
from dashboard.health import health_view
from dashboard.live_state import LiveHub
from dashboard.live_ticker import LiveTicker
from dashboard.web import TEXT_COOKIE, PageError, page, render, safe_next, templates
from monitor.evidence.episodes import rule_of
from monitor.settings import Settings

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(page(LIVE_VIEW))]
Clerk = Annotated[Principal, Depends(page(CLERK_ACTIONS))]
Reporter = Annotated[Principal, Depends(page(REPORTS))]

STARTABLE_WITHIN = timedelta(hours=12)
DONE = {f"clerk-{a}": f"Meeting {q.ACTION_DONE[a]}." for a in q.ACTION_DONE} | {
    "clerk-extend-30": "Meeting extended by 30 minutes.",
    "clerk-extend-60": "Meeting extended by 1 hour.",
    "exception-granted": "Exception granted for this meeting.",
    "exception-withdrawn": "Exception withdrawn.",
}
CONFIRM_TEXT = {
    ClerkAction.START: "Members' registered devices will be limited to the agenda and "
                       "webcast, and attempts to reach social platforms will be recorded.",
    ClerkAction.ADJOURN: "While adjourned, members' devices are not restricted.",
    ClerkAction.RESUME: "Members' devices will be limited to the agenda and webcast again.",
    ClerkAction.END: "Restrictions end for every member's device. The meeting cannot be "
                     "resumed afterwards (it can be started again).",
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _grace(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.policy.grace_minutes)


KEEPALIVE_SECONDS = 15.0
SHARED_PARTS = ("member_tiles", "chart", "feed")  # no buttons, no CSRF: alike for all
SHARED_FOR = 0.25  # seconds a fragment's view serves every browser (event→screen stays < 1 s)
_hub_lock = threading.Lock()


def live_hub(request: Request) -> LiveHub:
    """The web process's running meeting states (made on first use, with the settings' rule)."""
    with _hub_lock:
        hub: LiveHub | None = getattr(request.app.state, "live_hub", None)
        if hub is None:
            hub = LiveHub(rule_of(_settings(request)))
            request.app.state.live_hub = hub
        return hub


def live_context(request: Request, who: Principal | None, now: datetime,
                 sort: str = "name") -> dict[str, Any]:
    """Everything the live page and its fragment render, from one database session."""
    ctx = _shared_context(request, now, sort)
    return ctx | _own_context(who)


def _own_context(who: Principal | None) -> dict[str, Any]:
    """What differs between viewers: their role's buttons (and, in the templates, their CSRF)."""
    return {
        "can_act": who is not None and who.role in CLERK_ACTIONS,
        "can_report": who is not None and who.role in REPORTS,
        "is_it": who is not None and who.role is Role.IT_ADMIN,
        "can_check": who is not None and who.role in CHAMBER_CHECK,
    }


def shared_fragment_context(request: Request, who: Principal | None, now: datetime,
                            sort: str = "name", after: int = 0) -> dict[str, Any]:
    """The fragment's view, made at most once per ``SHARED_FOR`` for all browsers (per sort
    order) and only reused if it shows event ``after``; cleared by every clerk change so its
    result shows at once."""
    hub = live_hub(request)
    sort = sort if sort in q.MEMBER_SORTS else "name"
    with hub.view_lock(sort):  # one browser makes it; the others wait and take it
        made = hub.views.get(sort)
        if (made is not None and made[2] == hub.generation
                and time.monotonic() - made[0] < SHARED_FOR
                and made[1]["act"].last_event_id >= after):
            return made[1] | _own_context(who)
        # A clerk change committed while this view is read must not leave it to be shared
        # afterwards (the page that change redirects to would get the state before it).
        generation = hub.generation
        ctx = _shared_context(request, now, sort)
        # The parts that are the same for every viewer, rendered once for all of them.
        ctx["shared_html"] = {name: Markup(templates.get_template(f"_{name}.html").render(ctx))
                              for name in SHARED_PARTS}
        hub.views[sort] = (time.monotonic(), ctx, generation)
    return ctx | _own_context(who)


def _shared_context(request: Request, now: datetime, sort: str) -> dict[str, Any]:
    settings = _settings(request)
    grace = _grace(settings)
    sort = sort if sort in q.MEMBER_SORTS else "name"
    with database(request).session() as s:
        site = q.site_view(s, settings, now)
        health = health_view(s, settings, now)
        current = q.current_meeting(s, settings, now)
        meeting = q.meeting_view(current, grace=grace, now=now) if current else None
        in_session = meeting is not None and meeting.state is SessionState.IN_SESSION
        if current is not None:
            act = live_hub(request).activity(s, current, now=now, live=in_session)
        else:
            since = q.recent_since(now)
            act = q.activity(s, settings, now=now, meeting_id=None, since=since, live=False,
                             episodes=live_hub(request).recent_episodes(s, since))
        exemptions = exemptions_of(s, meeting.id) if meeting else []
        standing = [e for e in exemptions if e.withdrawn_at is None]
        for row in act.members:
            row.exempt = any(e.member_id == row.id or
                             any(d.id == e.device_id for d in row.devices) for e in standing)
        act.members = q.sort_members(act.members, sort)
        upcoming = [q.meeting_view(m, grace=grace, now=now)
                    for m in q.upcoming_meetings(s, settings, now)
                    if meeting is None or m.id != meeting.id]
        checks = [] if meeting else q.readiness(
            s, settings, site, next((q.get_meeting(s, m.id) for m in upcoming
                                     if m.status != "cancelled"), None))
    return {
        "now": now, "site": site, "meeting": meeting, "act": act, "upcoming": upcoming,
        "health": health,
        "checks": checks, "chart": q.bar_chart(act.platforms),
        "exemptions": standing if meeting else [], "sort": sort, "sorts": q.MEMBER_SORTS,
        "extend_minutes": EXTEND_MINUTES, "reason_max": REASON_MAX,
        "counts": {k: sum(1 for r in act.members if r.status == k)
                   for k in ("present", "absent", "exempt")},
        "present_minutes": q.PRESENT_MINUTES, "settings": settings,
        "gap_minutes": settings.policy.episode_gap_minutes,
        "confirm_text": CONFIRM_TEXT, "action_label": q.ACTION_LABEL,
        # The clerk may start a meeting early, but not one days away by a slip of the finger.
        "startable": {m.id for m in upcoming
                      if ClerkAction.START in m.actions and m.start - now < STARTABLE_WITHIN},
    }


@router.get("/", response_class=HTMLResponse)
async def live(request: Request, who: Viewer, done: str | None = None,
               sort: str = "name") -> Response:
    now = datetime.now(UTC)
    ctx = await run_in_threadpool(live_context, request, who, now, sort[:20])
    ctx["done"] = DONE.get(done or "")
    return render(request, "live.html", ctx)


@router.get("/live/fragment", response_class=HTMLResponse)
async def live_fragment(request: Request, who: Viewer, sort: str = "name",
                        after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> Response:
    """The changing parts of the live page (status, members, chart, feed) as HTML; live.js
    swaps each element carrying ``data-swap`` into the page by id. ``after``: the newest
    event the browser was told of (the view shown covers it)."""
    now = datetime.now(UTC)
    ctx = await run_in_threadpool(shared_fragment_context, request, who, now, sort[:20],
                                  after)
    return render(request, "live_fragment.html", ctx)


def live_ticker(request: Request) -> LiveTicker:
    with _hub_lock:
        ticker: LiveTicker | None = getattr(request.app.state, "live_ticker", None)
        if ticker is None:
            db = database(request)
            ticker = LiveTicker(db, live_feed(request.app.state, db))
            request.app.state.live_ticker = ticker
        return ticker


@router.get("/live/stream", response_class=StreamingResponse)
async def live_stream(request: Request, who: Viewer) -> StreamingResponse:
    """Server-Sent Events for the live page: ``change`` with the newest event id and its
    sentence, at most once per wake-up of the live feed, whatever the rate of events."""
    ticker = live_ticker(request)

    async def gen() -> AsyncIterator[bytes]:
        queue = ticker.subscribe()
        try:
            yield b"retry: 1000\n\n"
            while not await request.is_disconnected():
                try:
                    news = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                yield news.sse()
        finally:
            ticker.unsubscribe(queue)

    return StreamingResponse(gen(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _clerk_write(request: Request, fn: Any) -> Any:
    """Run one clerk change in its own transaction; a refusal becomes a page error."""
    def _run() -> Any:
        with database(request).session() as s:
            out = fn(s)
        live_hub(request).changed()
        return out
    return run_in_threadpool(_run)


@router.post("/meetings/{meeting_id}/extend", response_class=HTMLResponse)
async def clerk_extend(
    request: Request, meeting_id: IdPath, who: Clerk,
    minutes: Annotated[int, Form(ge=1, le=600)],
) -> Response:
    """Extend an overrunning meeting (+30 min or +1 h): the gate's policy keeps restricting
    members' devices until the new end (+ grace), and the report lists the extension."""
    grace = _grace(_settings(request))
    try:
        await _clerk_write(request, lambda s: extend_meeting(
            s, meeting_id=meeting_id, minutes=minutes, actor=who.username, grace=grace))
    except ServiceError as exc:
        raise PageError(exc.status, exc.message) from exc
    return RedirectResponse(f"/?done=clerk-extend-{minutes}", status_code=303)


@router.post("/meetings/{meeting_id}/exceptions", response_class=HTMLResponse)
async def clerk_grant(
    request: Request, meeting_id: IdPath, who: Clerk,
    target: Annotated[str, Form(max_length=30)],
    reason: Annotated[str, Form(max_length=REASON_MAX + 50)] = "",
) -> Response:
    """An exception for this meeting: ``target`` is ``member-ID`` or ``device-ID``."""
    kind, _, raw = target.partition("-")
    if kind not in ("member", "device") or not raw.isdigit():
        raise PageError(422, "Choose a member or one device.")
    ident = int(raw)
    try:
        await _clerk_write(request, lambda s: grant_exemption(
            s, meeting_id=meeting_id, actor=who.username, reason=reason,
            member_id=ident if kind == "member" else None,
            device_id=ident if kind == "device" else None))
    except ServiceError as exc:
        raise PageError(exc.status, exc.message) from exc
    return RedirectResponse("/?done=exception-granted", status_code=303)


@router.post("/meetings/{meeting_id}/exceptions/{exemption_id}/withdraw",
             response_class=HTMLResponse)
async def clerk_withdraw(request: Request, meeting_id: IdPath, exemption_id: IdPath,
                         who: Clerk) -> Response:
    try:
        await _clerk_write(request, lambda s: withdraw_exemption(
            s, meeting_id=meeting_id, exemption_id=exemption_id, actor=who.username))
    except ServiceError as exc:
        raise PageError(exc.status, exc.message) from exc
    return RedirectResponse("/?done=exception-withdrawn", status_code=303)


@router.post("/meetings/{meeting_id}/{action}", response_class=HTMLResponse)
async def clerk_act(
    request: Request,
    meeting_id: IdPath,
    action: ClerkAction,
    who: Clerk,
    confirmed: Annotated[str, Form(max_length=5)] = "0",
) -> Response:
    """Without ``confirmed=1`` this only asks (a page that works without JavaScript);
    confirm.js asks in a dialog instead and sends ``confirmed=1`` straight away."""
    settings = _settings(request)
    grace = _grace(settings)
    now = datetime.now(UTC)
    db = database(request)

    def _load() -> q.MeetingView:
        with db.session() as s:
            m = q.get_meeting(s, meeting_id)
            if m is None:
                raise PageError(404, f"There is no meeting {meeting_id}.")
            return q.meeting_view(m, grace=grace, now=now)

    view = await run_in_threadpool(_load)
    ctx: dict[str, Any] = {"meeting": view, "action": action,
                           "label": q.ACTION_LABEL[action], "explain": CONFIRM_TEXT[action],
                           "error": None}
    if confirmed != "1":
        return render(request, "confirm.html", ctx)

    def _act() -> None:
        with db.session() as s:
            clerk_action(s, meeting_id=meeting_id, action=action, actor=who.username,
                         grace=grace, settings=settings)

    try:
        await run_in_threadpool(_act)
        live_hub(request).changed()
    except ServiceError as exc:
        ctx["error"] = exc.message
        return render(request, "confirm.html", ctx, status=exc.status)
    return RedirectResponse(f"/?done=clerk-{action.value}", status_code=303)


@router.post("/prefs/text-size")
def text_size(
    request: Request,
    who: Viewer,
    size: Annotated[str, Form(max_length=10)] = "normal",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """The chamber's large-type option: a cookie, applied server-side as a class on <body>."""
    resp = RedirectResponse(safe_next(next), status_code=303)
    if size == "large":
        resp.set_cookie(TEXT_COOKIE, "large", max_age=365 * 86400, httponly=True,
                        samesite="strict", secure=_settings(request).web.secure_cookies)
    else:
        resp.delete_cookie(TEXT_COOKIE)
    return resp


# ---------------------------------------------------------------------------- reports


@router.get("/reports", response_class=HTMLResponse)
async def reports(request: Request, who: Reporter) -> Response:
    settings = _settings(request)
    now = datetime.now(UTC)
    grace = _grace(settings)

    def _load() -> list[tuple[q.MeetingView, q.Activity]]:
        with database(request).session() as s:
            out = []
            for m in q.recent_meetings(s, settings, now, limit=40):
                out.append((q.meeting_view(m, grace=grace, now=now),
                            q.activity(s, settings, now=now, meeting_id=m.id, feed_limit=0)))
            return out

    rows = await run_in_threadpool(_load)
    return render(request, "reports.html", {"rows": rows})


@router.get("/reports/{meeting_id}", response_class=HTMLResponse)
async def report(request: Request, meeting_id: IdPath, who: Reporter) -> Response:
    settings = _settings(request)
    now = datetime.now(UTC)
    grace = _grace(settings)

    def _load() -> dict[str, Any]:
        with database(request).session() as s:
            m = q.get_meeting(s, meeting_id)
            if m is None:
                raise PageError(404, f"There is no meeting {meeting_id}.")
            act = q.activity(s, settings, now=now, meeting_id=m.id, feed_limit=1000)
            return {"meeting": q.meeting_view(m, grace=grace, now=now), "act": act,
                    "chart": q.bar_chart(act.platforms), "site": q.site_view(s, settings, now),
                    "present_minutes": q.PRESENT_MINUTES,
                    "gap_minutes": settings.policy.episode_gap_minutes}

    ctx = await run_in_threadpool(_load)
    return render(request, "report.html", ctx)


