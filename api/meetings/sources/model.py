"""The records every meeting source produces, and the time helpers they share.

Sources are parsed into plain frozen records (no database, no I/O) so that the importer can
upsert them, the tests can compare them, and a bad document never half-updates the schedule:
a parser either returns the whole list or raises :class:`SourceError`.

Times are aware UTC datetimes, like :class:`allowlist.clock.MeetingClock`. Wall-clock times in
sources are Europe/London and are converted here, in one place, so that the two DST change days
behave the same for every source:

* a wall time that does not exist (the hour skipped on the last Sunday of March) is read with
  the offset in force before the gap, so "1.30 am" becomes 01:30 UTC (= 02:30 BST) — the same
  rule RFC 5545 gives for iCalendar;
* a wall time that happens twice (the last Sunday of October) means the first one (BST).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

# Neither modern.gov's GetMeetings nor many calendars say when a meeting ends. Three hours covers
# a typical evening council or planning meeting; the clerk's "end" button corrects the rest.
DEFAULT_DURATION = timedelta(hours=3)

# Dates outside this range are typing errors (or hostile input) and would overflow datetime
# arithmetic near year 9999; refusing them keeps every error a SourceError.
MIN_YEAR = 1900
MAX_YEAR = 2200

SourceKind = Literal["moderngov", "ical"]
Status = Literal["confirmed", "cancelled", "tentative"]
Window = tuple[datetime, datetime]


class SourceError(ValueError):
    """A meetings document (or the site serving it) could not be used; nothing was imported.

    ``problem`` says what is wrong in words IT can act on; ``where`` (optional) names the file,
    URL, element, meeting id, event UID or line, and prefixes the message.
    """

    def __init__(self, problem: str, *, where: str | None = None) -> None:
        self.problem = problem
        self.where = where
        super().__init__(f"{where}: {problem}" if where else problem)

    def within(self, outer: str) -> SourceError:
        """The same error with an outer location (e.g. the URL) in front, for re-raising."""
        where = f"{outer}: {self.where}" if self.where else outer
        return SourceError(self.problem, where=where)


@dataclass(frozen=True, slots=True)
class SourceCommittee:
    committee_id: str
    title: str


@dataclass(frozen=True, slots=True)
class SourceMeeting:
    """One meeting (or one occurrence of a recurring calendar event) as its source describes it.

    ``source_id`` is stable across imports so the importer can upsert: the modern.gov meeting id,
    or the iCalendar UID — plus ``#`` and the occurrence's original start (``20240305T190000Z``,
    or ``20240305`` for all-day events) for recurring events.

    ``end_estimated`` is true when the source gave no end and :data:`DEFAULT_DURATION` (or the
    whole London day, for a meeting with no time) was assumed. ``actual_start``/``actual_end``
    are what modern.gov recorded after the meeting, when it did; they never move the schedule.
    """

    source: SourceKind
    source_id: str
    committee_id: str | None
    committee_title: str
    title: str
    start: datetime
    end: datetime
    status: Status
    location: str | None = None
    room: str | None = None
    webcast: bool | None = None
    end_estimated: bool = False
    actual_start: datetime | None = None
    actual_end: datetime | None = None

    def __post_init__(self) -> None:
        where = f"{self.source} meeting {self.source_id!r}"
        if self.source not in get_args(SourceKind):
            raise SourceError(f"unknown source kind {self.source!r}", where=where)
        if self.status not in get_args(Status):
            raise SourceError(f"unknown status {self.status!r}", where=where)
        if not self.source_id:
            raise SourceError("empty source id", where=where)
        for name in ("start", "end", "actual_start", "actual_end"):
            value = getattr(self, name)
            if value is not None and not is_utc(value):
                raise SourceError(f"{name} is not an aware UTC datetime: {value!r}", where=where)
        if self.end <= self.start:
            raise SourceError(f"ends ({self.end}) before it starts ({self.start})", where=where)

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"


def is_utc(t: datetime) -> bool:
    return t.tzinfo is not None and t.utcoffset() == timedelta(0)


def check_year(d: date, what: str, *, where: str | None = None) -> None:
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise SourceError(
            f"{what} {d.isoformat()} is outside {MIN_YEAR}-{MAX_YEAR}; refusing it", where=where
        )


def london_to_utc(day: date, wall: time) -> datetime:
    """A Europe/London wall-clock time on ``day`` as aware UTC (DST rules: module docstring)."""
    local = datetime.combine(day, wall.replace(tzinfo=None, fold=0), tzinfo=LONDON)
    return local.astimezone(UTC)


def london_day(day: date, days: int = 1) -> tuple[datetime, datetime]:
    """The whole London day(s) from ``day`` as a UTC interval: 23 or 25 hours on DST days."""
    return london_to_utc(day, time(0)), london_to_utc(day + timedelta(days=days), time(0))


def clean_text(raw: str | None) -> str:
    """Text as people should read it: entities decoded (modern.gov sometimes encodes twice, so
    "Overview &amp;amp; Scrutiny" arrives as "Overview &amp; Scrutiny" after XML parsing) and
    runs of whitespace, including non-breaking spaces, collapsed."""
    if raw is None:
        return ""
    text = raw
    for _ in range(3):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return " ".join(text.split())


def check_window(window: Window | None) -> None:
    """Refuse a malformed window early: it is the caller's bug, not the document's."""
    if window is None:
        return
    lo, hi = window
    if lo.tzinfo is None or hi.tzinfo is None:
        raise ValueError("window datetimes must be timezone-aware")
    if hi <= lo:
        raise ValueError("window must end after it starts")


def overlaps(start: datetime, end: datetime, window: Window | None) -> bool:
    """Whether [start, end) meets the window [lo, hi); no window means everything does."""
    if window is None:
        return True
    lo, hi = window
    return start < hi and end > lo
