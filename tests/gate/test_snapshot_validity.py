"""Issue #18: a policy snapshot answers only for the span in which it holds every meeting
that can be in session; past it the gate reloads (tested end to end in tests/netns)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from allowlist.clock import MeetingClock
from allowlist.decision import Policy
from allowlist.rules import RuleSet
from monitor.store.policy_loader import WINDOW, validity

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@given(
    start=st.integers(-10 * 86400, 10 * 86400),
    length=st.integers(60, 12 * 3600),
    grace_min=st.integers(0, 120),
    at=st.floats(0.0, 1.0),
)
def test_every_meeting_in_session_inside_the_span_was_loaded(
    start: int, length: int, grace_min: int, at: float
) -> None:
    grace = timedelta(minutes=grace_min)
    lo, hi = validity(T0, grace)
    t = lo + (hi - lo) * at
    m = MeetingClock(1, "M", T0 + timedelta(seconds=start),
                     T0 + timedelta(seconds=start + length))
    loaded = m.start <= T0 + WINDOW and m.end >= T0 - WINDOW  # load_meetings' filter
    if m.in_session(t, grace):
        assert loaded


def test_covers_is_the_span() -> None:
    lo, hi = validity(T0, timedelta(minutes=5))
    p = Policy(RuleSet.compile(()), valid_from=lo, valid_until=hi)
    assert p.covers(T0) and p.covers(lo)
    assert not p.covers(hi) and not p.covers(lo - timedelta(seconds=1))
    assert Policy(RuleSet.compile(())).covers(T0 + timedelta(days=365))
