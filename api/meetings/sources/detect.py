"""One entry point for ``chamberguard meetings import FILE|URL``: whatever IT points it at.

The document decides what it is, not the file name or the server's Content-Type (sites get
those wrong): modern.gov XML (GetMeetings or GetMeeting), iCalendar, an HTML page (a login or
error page — said so plainly, with the HTTP status when there is one) or something else.
Every failure is a :class:`SourceError` and nothing is returned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from api.meetings.sources import ical, moderngov
from api.meetings.sources.model import SourceError, SourceMeeting, Window, check_window

Kind = Literal["moderngov", "ical", "html", "unknown"]

_EXPECTED = "modern.gov XML or iCalendar"


def sniff(data: bytes, content_type: str | None = None) -> Kind:
    """What the document looks like from its first bytes."""
    if moderngov.looks_like_html(data, content_type):
        return "html"
    head = moderngov.sniff_text(data).lstrip()
    if head.upper().startswith("BEGIN:VCALENDAR"):
        return "ical"
    if head.startswith("<"):
        return "moderngov"
    return "unknown"


def parse_document(
    data: bytes,
    *,
    content_type: str | None = None,
    window: Window | None = None,
    status: int | None = None,
) -> list[SourceMeeting]:
    """Meetings in a modern.gov GetMeetings/GetMeeting answer or an iCalendar document.

    ``window`` (aware datetimes) keeps meetings that overlap it and bounds the expansion of
    recurring calendar events; ``status`` is the HTTP status, when fetched, for the messages.
    """
    check_window(window)
    if not data.strip():
        raise SourceError("the document is empty")
    kind = sniff(data, content_type)
    if kind == "html":
        raise SourceError(moderngov.html_problem(data, status, _EXPECTED))
    if kind == "ical":
        return ical.parse_ical(data, window=window)
    if kind == "moderngov":
        return moderngov.parse_meetings(data, window=window)
    start = moderngov.sniff_text(data)[:24]
    raise SourceError(f"not {_EXPECTED}: it starts {start!r}")


def load(
    path_or_url: str, *, window: Window | None = None, timeout: float = 10.0
) -> list[SourceMeeting]:
    """Meetings from a file or an http(s) URL (see :func:`parse_document`).

    Errors name the file or URL. A URL answering an HTTP error status is refused even if its
    body would parse, so an error page is never imported as a schedule.
    """
    check_window(window)
    target = path_or_url.strip()
    if target.lower().startswith(("http://", "https://")):
        got = moderngov.fetch(target, timeout=timeout)
        body = moderngov.check_answer(got, expected=_EXPECTED)
        return _located(body, got.content_type, window, got.status, target)
    if "://" in target:
        raise SourceError("only files and http(s) URLs can be imported", where=target)
    path = Path(target)
    try:
        # Read at most one byte past the cap: stat sizes lie for devices and pipes
        # (/dev/zero says 0 and never ends).
        with path.open("rb") as f:
            data = f.read(moderngov.MAX_BYTES + 1)
        if len(data) > moderngov.MAX_BYTES:
            raise SourceError(f"larger than {moderngov.MAX_BYTES} bytes; refused", where=target)
    except OSError as exc:
        raise SourceError(f"cannot read the file: {exc.strerror or exc}", where=target) from exc
    return _located(data, None, window, None, target)


def _located(
    data: bytes, content_type: str | None, window: Window | None, status: int | None, where: str
) -> list[SourceMeeting]:
    try:
        return parse_document(data, content_type=content_type, window=window, status=status)
    except SourceError as exc:
        raise exc.within(where) from exc
