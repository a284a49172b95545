"""Civica modern.gov: parse ``mgWebService.asmx`` answers and fetch them over HTTP.

The web service answers plain HTTP GET with lower-case XML (the shapes below are what the parser
accepts; element names are compared case-insensitively and XML namespaces are ignored, and a
wrapper around the answer, such as a SOAP envelope, is looked through)::

    GetCommittees  <getcommittees> ... <committee><committeeid/><committeetitle/></committee>
    GetMeetings    <getmeetings><committee><committeeid/><committeetitle/>
                       <committeemeetings><meetingcount> 2</meetingcount>
                         <meeting><meetingid/><meetingdate>dd/mm/yyyy</meetingdate>
                           <meetingtime>7.30 pm</meetingtime><meetingstatus>Confirmed</...>
                           <iswebcast>True</iswebcast></meeting> ...
    GetMeeting     <getmeeting><meeting> the same, plus <meetinglocation/>, <meetingroom/>,
                       planned and actual start/finish times </meeting></getmeeting>

Why the parser is the way it is:

* XML is parsed only with defusedxml: entity declarations (the "billion laughs" expansion) and
  external entities are refused, never expanded or fetched.
* Titles can be HTML-entity-encoded twice; :func:`clean_text` decodes them.
* Times are Europe/London wall clock ("7.30 pm", "12.00 pm" = noon, "12.00 am" = midnight,
  also "19:30"); a meeting with an empty time is taken as the whole London day.
* Some sites ignore the requested date range, so meetings are filtered here by their date.
* All-or-nothing: if any meeting that would be returned is unreadable the whole document is
  refused with a :class:`SourceError` naming the meeting id and element. Every meeting's id
  and date are checked; the other fields only for meetings inside the requested range, so that
  one malformed meeting from years ago (returned by a site that ignores the range) cannot block
  every future import.
* Status: Confirmed → confirmed; Cancelled, Postponed, Withdrawn, Abandoned → cancelled
  (the meeting will not happen at that time); anything else (Provisional, Draft, …) → tentative.
* The same meeting id twice (a joint meeting listed under each committee) keeps the first
  listing if both agree on the time, and is an error if they do not.
"""

from __future__ import annotations

import re
import time as _time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import defusedxml.ElementTree as SafeET
import httpx
from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
    NotSupportedError,
)

from api.meetings.sources.model import (
    DEFAULT_DURATION,
    LONDON,
    UTC,
    SourceCommittee,
    SourceError,
    SourceMeeting,
    Status,
    Window,
    check_window,
    check_year,
    clean_text,
    london_day,
    london_to_utc,
    overlaps,
)

# Planned/actual times in GetMeeting have been spelt differently across modern.gov versions;
# these are the spellings accepted (compared lower-case).
PLANNED_START = ("plannedstart", "plannedstarttime", "meetingplannedstart")
PLANNED_FINISH = (
    "plannedfinish",
    "plannedfinishtime",
    "plannedend",
    "plannedendtime",
    "meetingplannedfinish",
)
ACTUAL_START = ("actualstart", "actualstarttime", "meetingactualstart")
ACTUAL_FINISH = (
    "actualfinish",
    "actualfinishtime",
    "actualend",
    "actualendtime",
    "meetingactualfinish",
)

# Elements the walk descends through to find <committee> and <meeting>; it never looks inside
# a <meeting>, so agenda items and linked documents can't be mistaken for meetings.
_CONTAINERS = frozenset(
    {"getmeetings", "getmeeting", "committees", "committee", "committeemeetings", "meetings"}
)
_ANSWER_ROOTS = frozenset({"getmeetings", "getmeeting", "getcommittees", "meeting"})

_CANCELLED = ("cancel", "postpone", "withdrawn", "abandon")

_DATE_RE = re.compile(
    r"(?:(\d{1,2})/(\d{1,2})/(\d{4})|(\d{4})-(\d{1,2})-(\d{1,2}))(?=$|[\sT])", re.A
)
_TIME_12H = re.compile(r"(\d{1,2})(?:[.:](\d{2}))?(?:[.:]\d{2})?\s*([ap])\.?\s*m\.?", re.I | re.A)
_TIME_24H = re.compile(r"(\d{1,2})[.:](\d{2})(?:[.:](\d{2}))?", re.A)
_DATE_TIME = re.compile(
    r"(\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{1,2}-\d{1,2})(?:(?:\s+|T)(.*))?", re.S | re.A
)
_MEETING_ID = re.compile(r"[0-9]+")

MAX_BYTES = 32 * 1024 * 1024  # a decade of meetings is a few MB; refuse anything silly
USER_AGENT = "chamberguard meetings import"

_T = TypeVar("_T")


# ---------------------------------------------------------------------------- XML plumbing


# The line each parsed element starts on, so an error names it ("line 12, meeting 6001").
_LINES: weakref.WeakKeyDictionary[Element, int] = weakref.WeakKeyDictionary()


class _LineBuilder(TreeBuilder):
    def __init__(self) -> None:
        super().__init__()
        self.parser: SafeET.DefusedXMLParser | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        el = super().start(tag, attrs)
        if self.parser is not None:
            _LINES[el] = self.parser.parser.CurrentLineNumber
        return el


def _parse_with_lines(data: bytes) -> Element:
    builder = _LineBuilder()
    parser = SafeET.DefusedXMLParser(target=builder, forbid_dtd=False, forbid_entities=True,
                                     forbid_external=True)
    builder.parser = parser
    parser.feed(data)
    root: Element = parser.close()
    return root


def line_of(el: Element) -> int | None:
    """The line ``el`` starts on in the document it was parsed from (None if unknown)."""
    return _LINES.get(el)


def _where(el: Element, what: str) -> str:
    line = line_of(el)
    return f"line {line}, {what}" if line is not None else what


def parse_xml(data: bytes) -> Element:
    """Parse untrusted XML safely, turning every failure into a SourceError that says why."""
    try:
        root = _parse_with_lines(data)
    except EntitiesForbidden as exc:
        raise SourceError(
            f"the XML declares an entity ({exc.name!r}); refused — entity expansion is how the "
            "'billion laughs' attack works, and modern.gov never sends entity declarations"
        ) from exc
    except ExternalReferenceForbidden as exc:
        raise SourceError(
            f"the XML refers to an external entity ({exc.sysid!r}); refused, nothing was fetched"
        ) from exc
    except (DTDForbidden, NotSupportedError, DefusedXmlException) as exc:
        raise SourceError(f"the XML uses a construct refused for safety: {exc}") from exc
    except ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        kind = "truncated" if reason in ("no element found", "unclosed token") else "malformed"
        raise SourceError(f"the XML is {kind} ({reason}) at line {line}, column {column}") from exc
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding in the declaration
        raise SourceError(f"the XML cannot be read: {exc}") from exc
    return root


def local_name(el: Element) -> str:
    tag = el.tag if isinstance(el.tag, str) else ""
    return tag.rsplit("}", 1)[-1].lower()


def child_text(el: Element, *names: str) -> str | None:
    """Cleaned text of the first direct child with one of ``names``; None if there is none."""
    for child in el:
        if local_name(child) in names:
            return clean_text("".join(child.itertext()))
    return None


def find_answer(root: Element) -> Element:
    """The modern.gov answer element, looking through up to four levels of wrapper."""
    frontier = [root]
    for _ in range(5):
        nxt: list[Element] = []
        for el in frontier:
            if local_name(el) in _ANSWER_ROOTS:
                return el
            nxt.extend(el)
        frontier = nxt
    name = local_name(root)
    if name == "html":
        raise SourceError("the document is HTML, not modern.gov XML")
    raise SourceError(f"unexpected XML root <{name}>: not a modern.gov mgWebService answer")


# ---------------------------------------------------------------------------- dates and times


def parse_date(text: str, *, where: str) -> date:
    """``dd/mm/yyyy`` (modern.gov) or ``yyyy-mm-dd``; a trailing time is ignored here."""
    m = _DATE_RE.match(text.strip())
    if m is None:
        raise SourceError(f"unreadable date {text!r} (expected dd/mm/yyyy)", where=where)
    if m.group(1):
        day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        year, month, day = int(m.group(4)), int(m.group(5)), int(m.group(6))
    try:
        result = date(year, month, day)
    except ValueError as exc:
        raise SourceError(f"impossible date {text!r}: {exc}", where=where) from exc
    check_year(result, "date", where=where)
    return result


def parse_time(text: str, *, where: str) -> time:
    """A wall-clock time: "7.30 pm", "10.00 am", "12.00 pm" (noon), "12.00 am" (midnight),
    "7pm", "19:30", "19.30.00"."""
    s = text.strip()
    if s.lower() in ("noon", "12 noon", "midday", "12 midday"):
        return time(12)
    m = _TIME_12H.fullmatch(s)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= hour <= 12 or minute > 59:
            raise SourceError(f"impossible time {text!r}", where=where)
        hour = hour % 12 + (12 if m.group(3).lower() == "p" else 0)
        return time(hour, minute)
    m = _TIME_24H.fullmatch(s)
    if m:
        hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise SourceError(f"impossible time {text!r}", where=where)
        return time(hour, minute, second)
    raise SourceError(f"unreadable time {text!r} (expected e.g. '7.30 pm')", where=where)


def parse_moment(text: str, day: date, *, where: str) -> datetime:
    """A time on ``day`` or a full "dd/mm/yyyy 19:30" / ISO date-time, as aware UTC."""
    s = text.strip()
    m = _DATE_TIME.fullmatch(s)
    if m:
        day = parse_date(m.group(1), where=where)
        rest = (m.group(2) or "").strip()
        if rest.endswith(("Z", "z")):
            wall = parse_time(rest[:-1], where=where)
            return datetime.combine(day, wall, tzinfo=UTC)
        return london_to_utc(day, parse_time(rest, where=where) if rest else time(0))
    return london_to_utc(day, parse_time(s, where=where))


def parse_bool(text: str | None, *, where: str) -> bool | None:
    if text is None or text == "":
        return None
    value = text.strip().lower()
    if value in ("true", "1", "yes", "y"):
        return True
    if value in ("false", "0", "no", "n"):
        return False
    raise SourceError(f"unreadable yes/no value {text!r}", where=where)


def parse_status(text: str | None) -> Status:
    value = (text or "").strip().lower()
    if value in ("", "confirmed", "confirm"):
        return "confirmed"
    if any(word in value for word in _CANCELLED):
        return "cancelled"
    return "tentative"


# ---------------------------------------------------------------------------- documents


@dataclass(frozen=True, slots=True)
class _Committee:
    committee_id: str | None
    title: str | None


@dataclass(frozen=True, slots=True)
class _Row:
    element: Element
    committee: _Committee
    meeting_id: str
    day: date


def _committee_of(el: Element, outer: _Committee) -> _Committee:
    cid = child_text(el, "committeeid")
    title = child_text(el, "committeetitle")
    return _Committee(cid or outer.committee_id, title or outer.title)


def _walk_meetings(answer: Element) -> Iterator[tuple[Element, _Committee]]:
    """<meeting> elements in document order with their committee, without recursion (a
    hostile document may nest containers deeply) and without looking inside meetings."""
    outer = _committee_of(answer, _Committee(None, None))
    if local_name(answer) == "meeting":
        yield answer, outer
        return
    stack: list[tuple[Iterator[Element], _Committee]] = [(iter(answer), outer)]
    while stack:
        children, committee = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        name = local_name(child)
        if name == "meeting":
            yield child, committee
        elif name in _CONTAINERS:
            inner = _committee_of(child, committee) if name == "committee" else committee
            stack.append((iter(child), inner))


def _rows(answer: Element) -> list[_Row]:
    rows = []
    for index, (el, committee) in enumerate(_walk_meetings(answer), start=1):
        mid = child_text(el, "meetingid")
        if not mid:
            line = line_of(el)
            raise SourceError(f"<meeting> number {index} has no <meetingid>",
                              where=f"line {line}" if line is not None else None)
        if not _MEETING_ID.fullmatch(mid):
            raise SourceError(f"unreadable <meetingid> {mid!r}",
                              where=_where(el, f"<meeting> number {index}"))
        where = _where(el, f"meeting {mid}")
        raw_date = child_text(el, "meetingdate")
        if not raw_date:
            raise SourceError("no <meetingdate>", where=where)
        rows.append(_Row(el, committee, mid, parse_date(raw_date, where=f"{where} <meetingdate>")))
    return rows


def _meeting(row: _Row) -> SourceMeeting:
    el, mid = row.element, row.meeting_id
    where = _where(el, f"meeting {mid}")
    committee = _committee_of(el, row.committee)
    meeting_title = child_text(el, "meetingtitle")
    committee_title = committee.title or meeting_title
    if not committee_title:
        raise SourceError("no <committeetitle>", where=where)

    raw_time = child_text(el, "meetingtime") or ""
    planned_start = child_text(el, *PLANNED_START) or ""
    planned_finish = child_text(el, *PLANNED_FINISH) or ""
    end_estimated = False
    if raw_time:
        start = london_to_utc(row.day, parse_time(raw_time, where=f"{where} <meetingtime>"))
    elif planned_start:
        start = parse_moment(planned_start, row.day, where=f"{where} <plannedstart>")
    else:
        start, end = london_day(row.day)
        end_estimated = True
    if raw_time or planned_start:
        if planned_finish:
            end = _after(
                parse_moment(planned_finish, row.day, where=f"{where} <plannedfinish>"), start
            )
            if end == start:
                end, end_estimated = start + DEFAULT_DURATION, True
        else:
            end, end_estimated = start + DEFAULT_DURATION, True

    actual_start = actual_end = None
    raw_actual_start = child_text(el, *ACTUAL_START)
    raw_actual_end = child_text(el, *ACTUAL_FINISH)
    if raw_actual_start:
        actual_start = parse_moment(raw_actual_start, row.day, where=f"{where} <actualstart>")
    if raw_actual_end:
        actual_end = parse_moment(raw_actual_end, row.day, where=f"{where} <actualfinish>")
        actual_end = _after(actual_end, actual_start or start)

    return SourceMeeting(
        source="moderngov",
        source_id=mid,
        committee_id=committee.committee_id or None,
        committee_title=committee_title,
        title=meeting_title or committee_title,
        start=start,
        end=end,
        status=parse_status(child_text(el, "meetingstatus")),
        location=child_text(el, "meetinglocation", "location") or None,
        room=child_text(el, "meetingroom", "room") or None,
        webcast=parse_bool(child_text(el, "iswebcast", "webcast"), where=f"{where} <iswebcast>"),
        end_estimated=end_estimated,
        actual_start=actual_start,
        actual_end=actual_end,
    )


def _after(end: datetime, start: datetime) -> datetime:
    """A finish given only as a time that is earlier than the start ran past midnight."""
    return end + timedelta(days=1) if end < start else end


def _in_dates(day: date, dates: tuple[date, date] | None) -> bool:
    return dates is None or dates[0] <= day <= dates[1]


def _near_window(day: date, window: Window | None) -> bool:
    """Cheap pre-filter on the London date, one day of slack each side."""
    if window is None:
        return True
    lo = window[0].astimezone(LONDON).date() - timedelta(days=1)
    hi = window[1].astimezone(LONDON).date() + timedelta(days=1)
    return lo <= day <= hi


def meetings_from_answer(
    answer: Element,
    *,
    window: Window | None = None,
    dates: tuple[date, date] | None = None,
) -> list[SourceMeeting]:
    """Meetings in a GetMeetings or GetMeeting answer element (see the module docstring)."""
    check_window(window)
    out: dict[str, SourceMeeting] = {}
    for row in _rows(answer):
        if not (_in_dates(row.day, dates) and _near_window(row.day, window)):
            continue
        meeting = _meeting(row)
        if not overlaps(meeting.start, meeting.end, window):
            continue
        seen = out.get(meeting.source_id)
        if seen is None:
            out[meeting.source_id] = meeting
        elif (seen.start, seen.status) != (meeting.start, meeting.status):
            raise SourceError(
                f"listed twice with different times or status ({seen.start:%Y-%m-%d %H:%M} "
                f"{seen.status} vs {meeting.start:%Y-%m-%d %H:%M} {meeting.status} UTC)",
                where=f"meeting {meeting.source_id}",
            )
    return sorted(out.values(), key=lambda m: (m.start, m.source_id))


def parse_meetings(
    data: bytes,
    *,
    window: Window | None = None,
    from_date: date | None = None,
    to_date: date | None = None,
) -> list[SourceMeeting]:
    """A GetMeetings (or GetMeeting) answer → meetings, filtered to the window and/or to
    meeting dates (London) between ``from_date`` and ``to_date`` inclusive."""
    answer = find_answer(parse_xml(data))
    name = local_name(answer)
    if name == "getcommittees":
        raise SourceError("this is a GetCommittees answer (a list of committees), not meetings")
    dates = None
    if from_date is not None or to_date is not None:
        dates = (from_date or date.min, to_date or date.max)
    return meetings_from_answer(answer, window=window, dates=dates)


def parse_meeting(data: bytes) -> SourceMeeting:
    """A GetMeeting answer → its one meeting."""
    answer = find_answer(parse_xml(data))
    if local_name(answer) == "getcommittees":
        raise SourceError("this is a GetCommittees answer, not a meeting")
    meetings = meetings_from_answer(answer)
    if len(meetings) != 1:
        raise SourceError(f"expected one <meeting> in a GetMeeting answer, found {len(meetings)}")
    return meetings[0]


def parse_committees(data: bytes) -> list[SourceCommittee]:
    """A GetCommittees answer → committees, in document order."""
    answer = find_answer(parse_xml(data))
    if local_name(answer) != "getcommittees":
        raise SourceError(f"expected a GetCommittees answer, got <{local_name(answer)}>")
    out: list[SourceCommittee] = []
    seen: set[str] = set()
    for index, el in enumerate(_iter_named(answer, "committee"), start=1):
        cid = child_text(el, "committeeid")
        title = child_text(el, "committeetitle")
        if not cid:
            raise SourceError(f"<committee> number {index} has no <committeeid>")
        if not title:
            raise SourceError("no <committeetitle>", where=f"committee {cid}")
        if cid not in seen:
            seen.add(cid)
            out.append(SourceCommittee(cid, title))
    return out


def _iter_named(root: Element, name: str) -> Iterable[Element]:
    return (el for el in root.iter() if local_name(el) == name)


# ---------------------------------------------------------------------------- HTTP


def looks_like_html(data: bytes, content_type: str | None = None) -> bool:
    """An HTML page (a login, 403 or 500 page from the site or a proxy) rather than data."""
    head = sniff_text(data)[:2048].lower()
    if head.startswith("<?xml"):
        head = head[head.find("?>") + 2 :].lstrip()
        while head.startswith("<!--"):
            head = head[head.find("-->") + 3 :].lstrip() if "-->" in head else ""
    if head.startswith(("<!doctype html", "<html")):
        return True
    if head.startswith(("<", "begin:vcalendar")):
        return False
    ct = (content_type or "").lower()
    return "html" in ct


def sniff_text(data: bytes) -> str:
    """The start of the document as text, for sniffing only (BOMs honoured, never fails)."""
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace").lstrip("\ufeff \t\r\n")
    return head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")


def html_title(data: bytes) -> str | None:
    m = re.search(r"<title[^>]*>(.*?)</title", sniff_text(data), re.I | re.S)
    if not m:
        return None
    title = clean_text(m.group(1))
    return (title[:80] + "…" if len(title) > 80 else title) or None


def html_problem(data: bytes, status: int | None, expected: str) -> str:
    """The message for an HTML page where data was expected, e.g. "the site answered HTML,
    not modern.gov XML (HTTP 403): page title 'Forbidden'"."""
    who = "the site answered HTML" if status is not None else "the document is HTML"
    msg = f"{who}, not {expected}"
    if status is not None:
        msg += f" (HTTP {status})"
    title = html_title(data)
    return msg + (f": page title {title!r}" if title else "")


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    status: int
    content_type: str | None
    body: bytes


def fetch(
    url: str,
    *,
    params: dict[str, str] | None = None,
    timeout: float = 10.0,
    max_bytes: int = MAX_BYTES,
    client: httpx.Client | None = None,
) -> Fetched:
    """GET ``url``; network trouble, slowness and oversize answers become SourceError.

    ``timeout`` bounds each network wait *and* the whole transfer, so a server that trickles
    bytes cannot hold the import (or a gateway worker) for ever. Any HTTP status is returned;
    callers decide what a 403 means for them.
    """
    own = client is None
    http = client or httpx.Client(follow_redirects=True, headers={"User-Agent": USER_AGENT})
    deadline = _time.monotonic() + timeout
    try:
        with http.stream("GET", url, params=params, timeout=timeout) as resp:
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise SourceError(f"answer larger than {max_bytes} bytes; refused", where=url)
                if _time.monotonic() > deadline:
                    raise SourceError(f"timed out after {timeout:g} s", where=url)
                chunks.append(chunk)
            return Fetched(
                str(resp.url), resp.status_code, resp.headers.get("content-type"), b"".join(chunks)
            )
    except httpx.TimeoutException as exc:
        raise SourceError(
            f"timed out after {timeout:g} s ({type(exc).__name__})", where=url
        ) from exc
    except httpx.InvalidURL as exc:
        raise SourceError(f"not a usable URL: {exc}", where=url) from exc
    except httpx.HTTPError as exc:
        raise SourceError(f"could not fetch: {exc or type(exc).__name__}", where=url) from exc
    finally:
        if own:
            http.close()


class ModernGovClient:
    """A small synchronous client for one council's ``mgWebService.asmx`` (HTTP GET).

    ``base_url`` is the site, e.g. ``https://democracy.example.gov.uk`` (a trailing
    ``/mgWebService.asmx`` is accepted too). Dates go out as dd/mm/yyyy because the service
    silently ignores the range if given ISO dates; committee id -1 means all committees (0
    returns nothing on some sites); results are filtered by meeting date here because some
    sites ignore the range anyway.
    """

    def __init__(self, base_url: str, timeout: float = 10.0, *, max_bytes: int = MAX_BYTES):
        base = base_url.strip().rstrip("/")
        if base.lower().endswith("/mgwebservice.asmx"):
            base = base[: -len("/mgwebservice.asmx")]
        if not base.lower().startswith(("http://", "https://")):
            raise ValueError(f"modern.gov base URL must be http(s): {base_url!r}")
        self.base_url = base
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._http = httpx.Client(follow_redirects=True, headers={"User-Agent": USER_AGENT})

    def __enter__(self) -> ModernGovClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def url(self, method: str) -> str:
        return f"{self.base_url}/mgWebService.asmx/{method}"

    def _get(self, method: str, params: dict[str, str]) -> bytes:
        got = fetch(
            self.url(method),
            params=params,
            timeout=self.timeout,
            max_bytes=self.max_bytes,
            client=self._http,
        )
        return check_answer(got, expected="modern.gov XML")

    def get_committees(self) -> list[SourceCommittee]:
        data = self._get("GetCommittees", {"lDays": "0"})
        return _located(lambda: parse_committees(data), self.url("GetCommittees"))

    def get_meetings(
        self, committee_id: int | str = -1, *, from_date: date, to_date: date
    ) -> list[SourceMeeting]:
        """Meetings dated (London) from ``from_date`` to ``to_date`` inclusive."""
        start, end = _as_day(from_date), _as_day(to_date)
        if end < start:
            raise ValueError("to_date is before from_date")
        params = {
            "lCommitteeId": str(committee_id),
            "sFromDate": start.strftime("%d/%m/%Y"),
            "sToDate": end.strftime("%d/%m/%Y"),
        }
        data = self._get("GetMeetings", params)
        return _located(
            lambda: parse_meetings(data, from_date=start, to_date=end), self.url("GetMeetings")
        )

    def get_meeting(self, meeting_id: int | str) -> SourceMeeting:
        data = self._get("GetMeeting", {"lMeetingId": str(meeting_id)})
        meeting = _located(lambda: parse_meeting(data), self.url("GetMeeting"))
        if meeting.source_id != str(meeting_id).strip():
            raise SourceError(
                f"asked for meeting {meeting_id}, the site answered meeting {meeting.source_id}",
                where=self.url("GetMeeting"),
            )
        return meeting


def check_answer(got: Fetched, *, expected: str) -> bytes:
    """The body of a usable answer, or a SourceError saying what the site did instead."""
    if looks_like_html(got.body, got.content_type):
        raise SourceError(html_problem(got.body, got.status, expected), where=got.url)
    if not 200 <= got.status < 300:
        snippet = clean_text(sniff_text(got.body)[:200]) or "(empty body)"
        raise SourceError(f"HTTP {got.status}: {snippet}", where=got.url)
    if not got.body.strip():
        raise SourceError("the site answered with an empty body", where=got.url)
    return got.body


def _located(parse: Callable[[], _T], where: str) -> _T:
    try:
        return parse()
    except SourceError as exc:
        raise exc.within(where) from exc


def _as_day(d: date) -> date:
    if isinstance(d, datetime):
        return (d.astimezone(LONDON) if d.tzinfo else d).date()
    return d
