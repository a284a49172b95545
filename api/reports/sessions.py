"""The meeting clock as a report sees it: in-session intervals from the clerk's actions or the
schedule, by the same rules as enforcement (allowlist.clock)."""


from dataclasses import dataclass
from datetime import datetime, timedelta

from allowlist.clock import CLERK_SESSION_CAP, ClerkAction
from api.reports.times import aware
from monitor.store.models import (
    Meeting,
)


@dataclass(frozen=True, slots=True)
class Sessions:
    intervals: list[tuple[datetime, datetime]]
    source: str  # "clerk" | "schedule" | "cancelled"
    open_at_report: bool  # still in session when the report was made


def sessions_of(m: Meeting, grace: timedelta, now: datetime) -> Sessions:
    """In-session intervals, with the same semantics as allowlist.clock.MeetingClock.state:
    the clerk's actions if any (start/resume open, adjourn/end close; a session left open ends
    at the later of first action + 12 h and scheduled end + grace), else schedule ± grace."""
    if m.status == "cancelled":
        return Sessions([], "cancelled", False)
    acts = sorted(((ClerkAction(a.action), aware(a.at)) for a in m.clerk_actions
                   if aware(a.at) <= now), key=lambda x: x[1])
    # The clerk's overrun extensions move the scheduled end (allowlist.clock.end_at).
    end = aware(m.end) + timedelta(minutes=sum(e.minutes for e in m.extensions
                                               if aware(e.at) <= now))
    if not acts:
        lo, hi = aware(m.start) - grace, end + grace
        if lo >= now:
            return Sessions([], "schedule", False)
        return Sessions([(lo, min(hi, now))], "schedule", hi > now)
    out: list[tuple[datetime, datetime]] = []
    opened: datetime | None = None
    for action, at in acts:
        if action in (ClerkAction.START, ClerkAction.RESUME):
            opened = opened or at
        elif opened is not None:
            out.append((opened, at))
            opened = None
    still_open = False
    if opened is not None:
        closes = max(acts[0][1] + CLERK_SESSION_CAP, end + grace)
        still_open = closes > now
        out.append((opened, min(closes, now)))
    return Sessions(out, "clerk", still_open)
