"""iCalendar (RFC 5545) meetings, read with the ``icalendar`` library.

Councils without an API often publish a calendar feed, and IT can export one from Outlook, so
this accepts what those produce:

* times with ``TZID`` (a VTIMEZONE in the file, an IANA name, or a Windows name such as
  "GMT Standard Time"), UTC times (``Z``), and floating times, which are taken as Europe/London
  because the meetings happen in the chamber; an unknown TZID is an error, not a guess;
* all-day events (``VALUE=DATE``) cover the whole London day(s);
* ``DTEND`` or ``DURATION``; with neither, a timed event lasts
  :data:`~api.meetings.sources.model.DEFAULT_DURATION` (``end_estimated``) and an all-day event
  one day;
* ``STATUS``: CANCELLED → cancelled, TENTATIVE → tentative, otherwise confirmed (a calendar
  with ``METHOD:CANCEL`` cancels all its events);
* recurrence: RRULE (daily or slower), RDATE, EXDATE and RECURRENCE-ID overrides, expanded in
  local wall time with ``dateutil`` (so a 7 pm meeting stays at 7 pm across the DST change),
  within the window. A rule with no COUNT or UNTIL needs a window;
* the committee title is the event's SUMMARY (there is nothing better in a calendar), the
  committee id is None, LOCATION is the location.

``source_id`` is the UID; for occurrences of recurring events it is ``UID#20240305T190000Z``
(the occurrence's original start in UTC; ``UID#20240305`` for all-day events), which is also
what a RECURRENCE-ID override of that occurrence gets, so overrides update rather than add.
An event without UID gets a stable ``nouid-…`` id from its SUMMARY and DTSTART.

All-or-nothing, like the modern.gov parser: an event with no DTSTART, a broken date, an unknown
time zone, an end before its start or an unexpandable rule raises :class:`SourceError` naming
the event (UID and line) and nothing is returned. Events entirely outside the window are not
checked beyond what finding their times needs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from dateutil.rrule import rrule, rrulestr
from icalendar import Calendar

from api.meetings.sources.model import (
    DEFAULT_DURATION,
    LONDON,
    UTC,
    SourceError,
    SourceMeeting,
    Status,
    Window,
    check_window,
    check_year,
    clean_text,
    london_day,
    overlaps,
)

# Meetings never recur more often than daily; refusing HOURLY and faster keeps expansion cheap
# on hostile input (dateutil would happily enumerate every second of a century).
_ALLOWED_FREQ = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MAX_OCCURRENCES = 20_000  # rule steps per event, counted from DTSTART, window or not

_UNTIL_RE = re.compile(r"UNTIL=[^;]*", re.I)
_BEGIN_VEVENT = re.compile(r"^BEGIN:VEVENT\s*$", re.I | re.M)


@dataclass(frozen=True, slots=True)
class _When:
    """A start as the source gave it: a date (all-day) or a local datetime in a zone."""

    value: date | datetime  # datetime: aware in its own zone (floating → London)

    @property
    def all_day(self) -> bool:
        return not isinstance(self.value, datetime)

    def key(self) -> date | datetime:
        """What identifies an occurrence: the date, or the UTC instant."""
        return self.value if not isinstance(self.value, datetime) else self.value.astimezone(UTC)

    def rid(self) -> str:
        k = self.key()
        if isinstance(k, datetime):
            return k.strftime("%Y%m%dT%H%M%SZ")
        return k.strftime("%Y%m%d")


@dataclass(frozen=True, slots=True)
class _Event:
    uid: str
    where: str
    start: _When
    duration: timedelta  # elapsed for timed events, whole days for all-day events
    end_estimated: bool
    status: Status
    summary: str
    location: str | None
    rrules: tuple[Any, ...]
    rdates: tuple[tuple[_When, timedelta | None], ...]
    exdates: frozenset[date | datetime]
    recurrence_id: _When | None

    @property
    def recurring(self) -> bool:
        return bool(self.rrules or self.rdates)


def parse_ical(data: bytes, *, window: Window | None = None) -> list[SourceMeeting]:
    """An iCalendar document → meetings (occurrences) overlapping ``window``, sorted by start."""
    check_window(window)
    text = _decode(data)
    lines = [text.count("\n", 0, m.start()) + 1 for m in _BEGIN_VEVENT.finditer(text)]
    try:
        cal = Calendar.from_ical(text)
    except Exception as exc:  # the library raises many types on malformed input
        raise SourceError(f"unreadable iCalendar: {exc}") from exc
    if not isinstance(cal, Calendar) or str(cal.name).upper() != "VCALENDAR":
        raise SourceError("not an iCalendar VCALENDAR")
    method_cancel = str(cal.get("METHOD", "")).upper() == "CANCEL"

    masters: dict[str, _Event] = {}
    overrides: dict[str, dict[date | datetime, _Event]] = {}
    try:
        vevents = cal.walk("VEVENT")
    except Exception as exc:
        raise SourceError(f"unreadable iCalendar: {exc}") from exc
    for index, component in enumerate(vevents):
        line = lines[index] if len(lines) == len(vevents) else None
        event = _event(component, index + 1, line)
        if method_cancel:
            event = replace(event, status="cancelled")
        if event.recurrence_id is None:
            if event.uid in masters:
                raise SourceError(
                    f"UID {event.uid!r} is used by two events (no RECURRENCE-ID)",
                    where=event.where,
                )
            masters[event.uid] = event
        else:
            by_rid = overrides.setdefault(event.uid, {})
            key = event.recurrence_id.key()
            if key in by_rid:
                raise SourceError("the same RECURRENCE-ID is overridden twice", where=event.where)
            by_rid[key] = event

    out: list[SourceMeeting] = []
    for uid, master in masters.items():
        moved = overrides.get(uid, {})
        if master.recurring or moved:
            for occ_start, occ_duration in _occurrences(master, window):
                if occ_start.key() in moved:
                    continue
                meeting = _meeting(master, occ_start, occ_duration, f"{uid}#{occ_start.rid()}")
                if overlaps(meeting.start, meeting.end, window):
                    out.append(meeting)
        else:
            meeting = _meeting(master, master.start, master.duration, uid)
            if overlaps(meeting.start, meeting.end, window):
                out.append(meeting)
    for uid, by_rid in overrides.items():
        for override in by_rid.values():
            assert override.recurrence_id is not None
            source_id = f"{uid}#{override.recurrence_id.rid()}"
            meeting = _meeting(override, override.start, override.duration, source_id)
            if overlaps(meeting.start, meeting.end, window):
                out.append(meeting)
    return sorted(out, key=lambda m: (m.start, m.source_id))


# ---------------------------------------------------------------------------- reading events


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"the iCalendar is not UTF-8 (bad byte at offset {exc.start})") from exc
    if not text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
        raise SourceError("not iCalendar: it does not start with BEGIN:VCALENDAR")
    return text


def _event(component: Any, number: int, line: int | None) -> _Event:
    uid = clean_text(_str(component.get("UID")))
    summary = clean_text(_str(component.get("SUMMARY")))
    label = f"VEVENT {'at line ' + str(line) if line else 'number ' + str(number)}"
    where = f"{label} (UID {uid!r})" if uid else f"{label} ({summary or 'no SUMMARY'!r})"
    broken = {str(name).upper(): msg for name, msg in getattr(component, "errors", ())}
    for name in ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"):
        if name in broken:
            raise SourceError(f"unreadable {name}: {broken[name]}", where=where)

    if component.get("DTSTART") is None:
        raise SourceError("the event has no DTSTART", where=where)
    start = _when(component.get("DTSTART"), "DTSTART", where)
    duration, estimated = _duration(component, start, where)
    if not uid:
        digest = hashlib.sha256(f"{summary}|{start.rid()}".encode()).hexdigest()[:16]
        uid = f"nouid-{digest}"

    rrules = _list(component.get("RRULE"))
    for rule in rrules:
        if not hasattr(rule, "to_ical") or not hasattr(rule, "get"):
            raise SourceError("unreadable RRULE", where=where)
    rdates = tuple(
        (_when(v, "RDATE", where, period_ok=True), _period_length(v, where))
        for v in _dates(component.get("RDATE"), "RDATE", where)
    )
    exdates = frozenset(
        _when(v, "EXDATE", where).key() for v in _dates(component.get("EXDATE"), "EXDATE", where)
    )
    rid_prop = component.get("RECURRENCE-ID")
    recurrence_id = _when(rid_prop, "RECURRENCE-ID", where) if rid_prop is not None else None

    return _Event(
        uid=uid,
        where=where,
        start=start,
        duration=duration,
        end_estimated=estimated,
        status=_status(_str(component.get("STATUS"))),
        summary=summary,
        location=clean_text(_str(component.get("LOCATION"))) or None,
        rrules=tuple(rrules),
        rdates=rdates,
        exdates=exdates,
        recurrence_id=recurrence_id,
    )


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # a property given twice
        value = value[0] if value else ""
    return str(value)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _status(value: str) -> Status:
    v = value.strip().upper()
    if v == "CANCELLED":
        return "cancelled"
    if v == "TENTATIVE":
        return "tentative"
    return "confirmed"


def _when(prop: Any, name: str, where: str, *, period_ok: bool = False) -> _When:
    """A DTSTART-like property as a date or an aware datetime in its own zone."""
    value = getattr(prop, "dt", None)
    if period_ok and isinstance(value, tuple) and value:
        value = value[0]
    if isinstance(value, datetime):
        check_year(value, name, where=where)
        if value.tzinfo is None:
            tzid = getattr(prop, "params", {}).get("TZID")
            if tzid:
                raise SourceError(f"unknown time zone TZID={tzid!r} in {name}", where=where)
            value = value.replace(tzinfo=LONDON)  # floating time: the chamber's clock
        elif value.utcoffset() is None:
            raise SourceError(f"unusable time zone in {name}", where=where)
        return _When(value)
    if isinstance(value, date):
        check_year(value, name, where=where)
        return _When(value)
    raise SourceError(f"{name} is not a date or date-time", where=where)


def _dates(prop: Any, name: str, where: str) -> Iterator[Any]:
    """The individual values of a (possibly repeated, possibly comma-listed) RDATE/EXDATE."""
    for entry in _list(prop):
        dts = getattr(entry, "dts", None)
        if not isinstance(dts, list):
            raise SourceError(f"unreadable {name}", where=where)
        yield from dts


def _period_length(prop: Any, where: str) -> timedelta | None:
    value = getattr(prop, "dt", None)
    if not (isinstance(value, tuple) and len(value) == 2):
        return None
    begin, second = value
    if isinstance(second, timedelta):
        length = second
    elif isinstance(second, datetime) and isinstance(begin, datetime):
        try:
            length = second - begin
        except TypeError as exc:
            raise SourceError("RDATE period mixes zoned and floating times", where=where) from exc
    else:
        raise SourceError("unreadable RDATE period", where=where)
    if length <= timedelta(0):
        raise SourceError("RDATE period ends before it starts", where=where)
    return length


def _duration(component: Any, start: _When, where: str) -> tuple[timedelta, bool]:
    """How long the event lasts, and whether that was assumed."""
    end_prop = component.get("DTEND")
    dur_prop = component.get("DURATION")
    if end_prop is not None:
        end = _when(end_prop, "DTEND", where)
        if start.all_day != end.all_day:
            raise SourceError("DTSTART and DTEND are not both dates or both times", where=where)
        if isinstance(start.value, datetime) and isinstance(end.value, datetime):
            length = end.value.astimezone(UTC) - start.value.astimezone(UTC)
        else:
            length = timedelta(days=(_as_date(end.value) - _as_date(start.value)).days)
        if length < timedelta(0):
            raise SourceError(f"DTEND {end.value} is before DTSTART {start.value}", where=where)
        if length > timedelta(days=366):
            raise SourceError("the event lasts longer than a year", where=where)
        if length == timedelta(0):  # a point in time: treat as "no end given"
            return _default_length(start)
        return length, False
    if dur_prop is not None:
        given = getattr(dur_prop, "dt", None)
        if not isinstance(given, timedelta):
            raise SourceError("DURATION is not a duration", where=where)
        length = given
        if length < timedelta(0):
            raise SourceError("DURATION is negative", where=where)
        if length > timedelta(days=366):
            raise SourceError("DURATION is longer than a year", where=where)
        if start.all_day:
            length = timedelta(days=max(1, length.days))
        if length == timedelta(0):
            return _default_length(start)
        return length, False
    return _default_length(start)


def _default_length(start: _When) -> tuple[timedelta, bool]:
    return (timedelta(days=1), False) if start.all_day else (DEFAULT_DURATION, True)


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


# ---------------------------------------------------------------------------- recurrence


def _occurrences(event: _Event, window: Window | None) -> list[tuple[_When, timedelta]]:
    """Starts (and lengths) of a recurring event's occurrences that may meet the window."""
    found: dict[date | datetime, tuple[_When, timedelta]] = {}
    # DTSTART is always the first occurrence (RFC 5545 3.8.5.3), even if the rule skips it.
    found[event.start.key()] = (event.start, event.duration)
    for rule in event.rrules:
        for occ in _expand(event, rule, window):
            found.setdefault(occ.key(), (occ, event.duration))
    for rdate, length in event.rdates:
        if rdate.all_day != event.start.all_day:
            raise SourceError(
                "RDATE and DTSTART are not both dates or both times", where=event.where
            )
        found.setdefault(rdate.key(), (rdate, length or event.duration))
    return [found[k] for k in found if not _excluded(k, event.exdates)]


def _excluded(key: date | datetime, exdates: frozenset[date | datetime]) -> bool:
    if key in exdates:
        return True
    # An EXDATE given as a date excludes a timed occurrence on that London day.
    return isinstance(key, datetime) and key.astimezone(LONDON).date() in exdates


def _expand(event: _Event, rule: Any, window: Window | None) -> Iterator[_When]:
    where = event.where
    freq = [str(f).upper() for f in _list(rule.get("FREQ"))]
    if len(freq) != 1 or freq[0] not in _ALLOWED_FREQ:
        raise SourceError(
            f"RRULE FREQ={','.join(freq) or '(none)'} is not supported for meetings "
            f"(use one of {', '.join(_ALLOWED_FREQ)})",
            where=where,
        )
    bounded = rule.get("COUNT") is not None or rule.get("UNTIL") is not None
    if not bounded and window is None:
        raise SourceError(
            "the RRULE has no COUNT or UNTIL; give a window to expand it within", where=where
        )
    zone = _zone(event.start)
    local_start = _naive(event.start)
    try:
        text = rule.to_ical().decode("ascii", errors="replace")
        until = _list(rule.get("UNTIL"))
        if until:
            naive_until = _naive_until(until[0], zone, event.start.all_day, where)
            text = _UNTIL_RE.sub(f"UNTIL={naive_until:%Y%m%dT%H%M%S}", text)
        expanded = rrulestr(text, dtstart=local_start)
    except SourceError:
        raise
    except Exception as exc:  # dateutil raises ValueError/TypeError/KeyError on odd rules
        raise SourceError(f"unusable RRULE ({exc})", where=where) from exc
    if not isinstance(expanded, rrule):
        raise SourceError("unusable RRULE", where=where)

    limit = window[1] if window is not None else None
    steps = 0
    iterator = iter(expanded)
    while True:
        try:
            occ = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # e.g. a year beyond datetime's range
            raise SourceError(f"RRULE cannot be expanded ({exc})", where=where) from exc
        steps += 1
        if steps > MAX_OCCURRENCES:
            raise SourceError(
                f"the RRULE gives more than {MAX_OCCURRENCES} occurrences before the window "
                "ends; refusing to expand it",
                where=where,
            )
        check_year(occ, "RRULE occurrence", where=where)
        when = _When(occ.date()) if event.start.all_day else _When(occ.replace(tzinfo=zone))
        if limit is not None and _utc_start(when) >= limit:
            return
        yield when


def _zone(start: _When) -> tzinfo:
    if isinstance(start.value, datetime):
        assert start.value.tzinfo is not None
        return start.value.tzinfo
    return LONDON


def _naive(start: _When) -> datetime:
    if isinstance(start.value, datetime):
        return start.value.replace(tzinfo=None)
    return datetime.combine(start.value, time(0))


def _naive_until(until: Any, zone: tzinfo, all_day: bool, where: str) -> datetime:
    """UNTIL in the event's local wall time, which is what the expansion runs in."""
    if isinstance(until, datetime):
        check_year(until, "RRULE UNTIL", where=where)
        if until.tzinfo is not None:
            until = until.astimezone(zone if not all_day else LONDON)
        return until.replace(tzinfo=None)
    if isinstance(until, date):
        check_year(until, "RRULE UNTIL", where=where)
        return datetime.combine(until, time(0) if all_day else time(23, 59, 59))
    raise SourceError("unreadable RRULE UNTIL", where=where)


def _utc_start(when: _When) -> datetime:
    if isinstance(when.value, datetime):
        return when.value.astimezone(UTC)
    return london_day(when.value)[0]


# ---------------------------------------------------------------------------- records


def _meeting(event: _Event, start: _When, length: timedelta, source_id: str) -> SourceMeeting:
    if isinstance(start.value, datetime):
        begin = start.value.astimezone(UTC)
        end = begin + length
    else:
        begin, end = london_day(start.value, days=max(1, length.days))
    return SourceMeeting(
        source="ical",
        source_id=source_id,
        committee_id=None,
        committee_title=event.summary,
        title=event.summary,
        start=begin,
        end=end,
        status=event.status,
        location=event.location,
        room=None,
        webcast=None,
        end_estimated=event.end_estimated,
    )
