"""The meeting clock: is a meeting in session at time t?

Pure function of the schedule and the clerk's actions so that it answers for the past too
(reports ask "was this attempt during the meeting?" days later).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
# A clerk who starts a meeting and forgets to end it must not restrict members overnight.
CLERK_SESSION_CAP = timedelta(hours=12)
# The clerk may extend an overrunning meeting from this long before its end (+ grace) ...
EXTEND_FROM = timedelta(minutes=10)
# ... by one of these steps at a time.
EXTENSION_STEPS = (timedelta(minutes=30), timedelta(hours=1))


class ClerkAction(enum.StrEnum):
    START = "start"
    ADJOURN = "adjourn"
    RESUME = "resume"
    END = "end"


class SessionState(enum.StrEnum):
    SCHEDULED = "scheduled"  # clerk has not acted; schedule ± grace decides
    IN_SESSION = "in-session"
    ADJOURNED = "adjourned"
    ENDED = "ended"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ClerkEvent:
    action: ClerkAction
    at: datetime  # aware, UTC


@dataclass(frozen=True, slots=True)
class Extension:
    """The clerk moved the scheduled end later by ``by``, at ``at`` (the meeting overran)."""

    by: timedelta
    at: datetime  # aware, UTC


@dataclass(frozen=True, slots=True)
class MeetingClock:
    """What the policy needs of a meeting. Datetimes are timezone-aware UTC."""

    meeting_id: int
    title: str
    start: datetime
    end: datetime
    cancelled: bool = False
    room: str | None = None
    clerk: tuple[ClerkEvent, ...] = field(default_factory=tuple)
    extensions: tuple[Extension, ...] = field(default_factory=tuple)

    def end_at(self, t: datetime) -> datetime:
        """The scheduled end as it stood at ``t``: extensions count from when they were made,
        so a report asked later still answers for each moment as it was."""
        return self.end + sum((e.by for e in self.extensions if e.at <= t), timedelta(0))

    def can_extend(self, t: datetime, grace: timedelta) -> bool:
        """In session and within :data:`EXTEND_FROM` of the (extended) end + grace, or past it
        (a clerk-started meeting stays in session after its scheduled end)."""
        return (self.state(t, grace) is SessionState.IN_SESSION
                and t >= self.end_at(t) + grace - EXTEND_FROM)

    def last_clerk_event(self, t: datetime) -> ClerkEvent | None:
        last = None
        for ev in self.clerk:  # kept in time order
            if ev.at <= t:
                last = ev
        return last

    def state(self, t: datetime, grace: timedelta) -> SessionState:
        if self.cancelled:
            return SessionState.CANCELLED
        ev = self.last_clerk_event(t)
        end = self.end_at(t)
        if ev is None:
            if self.start - grace <= t < end + grace:
                return SessionState.IN_SESSION
            return SessionState.ENDED if t >= end + grace else SessionState.SCHEDULED
        if ev.action in (ClerkAction.START, ClerkAction.RESUME):
            started = self.session_started(t)
            if t - started >= CLERK_SESSION_CAP and t >= end + grace:
                return SessionState.ENDED
            return SessionState.IN_SESSION
        if ev.action is ClerkAction.ADJOURN:
            return SessionState.ADJOURNED
        return SessionState.ENDED

    def session_started(self, t: datetime) -> datetime:
        """When the sitting in progress at ``t`` began: the clerk's latest start at or before
        ``t`` (after End then Start, the new start; adjournments do not reset it)."""
        starts = [ev.at for ev in self.clerk if ev.at <= t and ev.action is ClerkAction.START]
        if starts:
            return starts[-1]
        return next(ev.at for ev in self.clerk if ev.at <= t)

    def in_session(self, t: datetime, grace: timedelta) -> bool:
        return self.state(t, grace) is SessionState.IN_SESSION


def meeting_in_session(
    meetings: Sequence[MeetingClock], t: datetime, grace: timedelta
) -> MeetingClock | None:
    """The meeting in session at ``t`` (the earliest-starting if several overlap)."""
    live = [m for m in meetings if m.in_session(t, grace)]
    return min(live, key=lambda m: m.start) if live else None


def to_london(t: datetime) -> datetime:
    return t.astimezone(LONDON)
