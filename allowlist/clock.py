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
class MeetingClock:
    """What the policy needs of a meeting. Datetimes are timezone-aware UTC."""

    meeting_id: int
    title: str
    start: datetime
    end: datetime
    cancelled: bool = False
    room: str | None = None
    clerk: tuple[ClerkEvent, ...] = field(default_factory=tuple)

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
        if ev is None:
            if self.start - grace <= t < self.end + grace:
                return SessionState.IN_SESSION
            return SessionState.ENDED if t >= self.end + grace else SessionState.SCHEDULED
        if ev.action in (ClerkAction.START, ClerkAction.RESUME):
            started = self._session_started(t)
            if t - started >= CLERK_SESSION_CAP and t >= self.end + grace:
                return SessionState.ENDED
            return SessionState.IN_SESSION
        if ev.action is ClerkAction.ADJOURN:
            return SessionState.ADJOURNED
        return SessionState.ENDED

    def _session_started(self, t: datetime) -> datetime:
        first = next(ev.at for ev in self.clerk if ev.at <= t)
        return first

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
