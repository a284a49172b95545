"""Shared pieces of the dashboard: templates and their filters, the page door with an HTML
403, error pages, and the text-size preference.

Pages are server-rendered and work without JavaScript; every state-changing form is a POST
carrying the session's CSRF token (checked by :func:`api.auth.deps.principal`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from allowlist.clock import LONDON
from api.auth.deps import require_page
from api.auth.roles import Role
from api.users.service import Principal

HERE = Path(__file__).parent
TEXT_COOKIE = "cg_text"  # "large": the chamber's large-type option (a class on <body>)


class PageError(Exception):
    """Raised by page routes; answered with the HTML error page (never a JSON blob)."""

    def __init__(self, status: int, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title or {403: "Not allowed", 404: "Not found"}.get(
            status, "Something is wrong")


def page(roles: Iterable[Role]) -> Callable[[Request], Awaitable[Principal]]:
    """:func:`require_page` with an HTML 403: the wrong role, or a form whose CSRF token has
    gone stale (e.g. signed in again in another tab), gets a page that says what to do."""
    inner = require_page(roles)

    async def dep(request: Request) -> Principal:
        try:
            return await inner(request)
        except HTTPException as exc:
            if exc.status_code != 403:
                raise
            detail = str(exc.detail)
            if "CSRF" in detail:
                raise PageError(403, "This form has expired (you may have signed in again "
                                "elsewhere). Go back, reload the page and try again.",
                                title="Please try again") from None
            p = getattr(request.state, "principal", None)
            role = p.role.value.replace("_", " ") if p is not None else "your role"
            raise PageError(403, f"Your account ({role}) cannot open this page. "
                            "Ask IT if you need access.") from None

    dep.roles = inner.roles  # type: ignore[attr-defined]  # read by the route-permission test
    return dep


# ---------------------------------------------------------------------------- time filters


def london(t: datetime | None, fmt: str = "%H:%M") -> str:
    """A UTC time as Europe/London wall-clock text (what the clerk's watch says)."""
    if t is None:
        return ""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(LONDON).strftime(fmt)


def london_day(t: datetime | None) -> str:
    """"Thu 26 Nov 2026" — unambiguous, no leading zero."""
    if t is None:
        return ""
    d = t.astimezone(LONDON) if t.tzinfo else t.replace(tzinfo=UTC).astimezone(LONDON)
    return f"{d:%a} {d.day} {d:%b %Y}"


def duration(d: timedelta | None) -> str:
    """"1 h 05 min", "12 min", "40 s"."""
    if d is None:
        return ""
    secs = max(0, int(d.total_seconds()))
    if secs < 60:
        return f"{secs} s"
    hours, rest = divmod(secs // 60, 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


def duration_minutes(n: int) -> str:
    """90 → "1 h 30 min"; 30 → "30 min"."""
    return duration(timedelta(minutes=n))


def duration_seconds(n: int) -> str:
    """40 → "40 s"; 300 → "5 min"."""
    return duration(timedelta(seconds=n))


def iso(t: datetime | None) -> str:
    if t is None:
        return ""
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def sentence(text: object) -> str:
    """Reasons from the policy start in lower case; shown alone they need a capital (but a
    reason that starts with a domain name keeps it as written)."""
    s = str(text or "")
    first = s.split(" ", 1)[0]
    return s if "." in first else s[:1].upper() + s[1:]


def make_templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.filters.update(london=london, london_day=london_day, duration=duration, iso=iso,
                         duration_minutes=duration_minutes, duration_seconds=duration_seconds,
                         sentence=sentence)
    t.env.globals.update(plural=plural, TEXT_COOKIE=TEXT_COOKIE)
    return t


templates = make_templates()


def render(request: Request, name: str, context: Mapping[str, Any] | None = None,
           status: int = 200) -> HTMLResponse:
    ctx: dict[str, Any] = {"who": getattr(request.state, "principal", None)}
    ctx.update(context or {})
    resp: HTMLResponse = templates.TemplateResponse(request, name, ctx, status_code=status)
    resp.headers["Cache-Control"] = "no-store"  # pages show who is in the room: never cache
    return resp


def error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return render(request, "error.html", {"status": exc.status, "title": exc.title,
                                          "message": exc.message}, status=exc.status)


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
