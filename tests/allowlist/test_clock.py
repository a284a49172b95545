"""The meeting clock: schedule ± grace unless the clerk has acted (DESIGN §4).

Meetings are entered in Europe/London wall-clock time and stored in UTC, so the DST change
days are where a wrong conversion would restrict members an hour early or late.
"""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from allowlist.clock import (
    CLERK_SESSION_CAP,
    LONDON,
    ClerkAction,
    ClerkEvent,
    MeetingClock,
    SessionState,
    meeting_in_session,
    to_london,
)

from .conftest import london

GRACE = timedelta(minutes=5)
MIN = timedelta(minutes=1)

# UK clocks: forward at 01:00 GMT on the last Sunday of March, back at 01:00 GMT (02:00 BST)
# on the last Sunday of October.
SPRING_2026 = (2026, 3, 29)
AUTUMN_2026 = (2026, 10, 25)


def clock(start_local: tuple[int, ...], end_local: tuple[int, ...]) -> MeetingClock:
    return MeetingClock(1, "Planning Committee", london(*start_local), london(*end_local))


def test_the_dst_days_are_what_the_tests_assume() -> None:
    hour = timedelta(hours=1)
    assert to_london(london(*SPRING_2026, 0, 30)).utcoffset() == timedelta(0)
    assert to_london(london(*SPRING_2026, 3, 0)).utcoffset() == hour
    assert london(*SPRING_2026, 3, 0) - london(*SPRING_2026, 0, 30) == timedelta(minutes=90)
    assert to_london(london(*AUTUMN_2026, 1, 30, fold=0)).utcoffset() == hour
    assert to_london(london(*AUTUMN_2026, 1, 30, fold=1)).utcoffset() == timedelta(0)
    assert london(*AUTUMN_2026, 1, 30, fold=1) - london(*AUTUMN_2026, 1, 30, fold=0) == hour


@pytest.mark.parametrize("day", [SPRING_2026, AUTUMN_2026, (2026, 1, 14), (2026, 7, 8)])
def test_schedule_plus_minus_grace(day: tuple[int, int, int]) -> None:
    m = clock((*day, 18, 0), (*day, 20, 0))
    start, end = m.start, m.end
    assert m.state(start - GRACE - MIN, GRACE) is SessionState.SCHEDULED
    assert m.in_session(start - GRACE, GRACE)  # start − grace is inclusive
    assert m.in_session(start, GRACE)
    assert m.in_session(end + GRACE - MIN, GRACE)
    assert m.state(end + GRACE, GRACE) is SessionState.ENDED  # end + grace is exclusive
    # Wall clock says 18:00 whatever the season: the UTC start moves with DST.
    assert to_london(start).hour == 18 and to_london(start).tzinfo is LONDON


def test_evening_meeting_on_the_autumn_change_day_is_not_an_hour_early() -> None:
    m = clock((*AUTUMN_2026, 18, 0), (*AUTUMN_2026, 21, 0))
    assert m.start.hour == 18 and m.start.tzinfo is UTC  # GMT again: 18:00 local = 18:00 UTC
    naive_bst_start = m.start - timedelta(hours=1)  # what a BST-assuming conversion would give
    assert not m.in_session(naive_bst_start + 30 * MIN, GRACE)


def test_evening_meeting_on_the_spring_change_day_is_not_an_hour_late() -> None:
    m = clock((*SPRING_2026, 18, 0), (*SPRING_2026, 21, 0))
    assert m.start.hour == 17  # BST: 18:00 local = 17:00 UTC
    assert m.in_session(london(*SPRING_2026, 18, 0), GRACE)
    assert not m.in_session(london(*SPRING_2026, 21, 30), GRACE)


def test_meeting_across_the_spring_gap_is_shorter_in_real_time() -> None:
    m = clock((*SPRING_2026, 0, 30), (*SPRING_2026, 3, 30))  # 00:30 GMT to 03:30 BST
    assert m.end - m.start == timedelta(hours=2)
    assert m.in_session(london(*SPRING_2026, 3, 15), GRACE)
    assert not m.in_session(london(*SPRING_2026, 3, 40), GRACE)


def test_meeting_across_the_autumn_repeat_covers_both_one_thirties() -> None:
    m = clock((*AUTUMN_2026, 0, 30), (*AUTUMN_2026, 2, 30))  # 00:30 BST to 02:30 GMT
    assert m.end - m.start == timedelta(hours=3)
    assert m.in_session(london(*AUTUMN_2026, 1, 30, fold=0), GRACE)  # first 01:30 (BST)
    assert m.in_session(london(*AUTUMN_2026, 1, 30, fold=1), GRACE)  # second 01:30 (GMT)
    assert not m.in_session(london(*AUTUMN_2026, 2, 40), GRACE)


def _with(m: MeetingClock, *events: tuple[ClerkAction, object]) -> MeetingClock:
    return MeetingClock(
        m.meeting_id, m.title, m.start, m.end, m.cancelled, m.room,
        tuple(ClerkEvent(a, t) for a, t in events),  # type: ignore[arg-type]
    )


@pytest.fixture()
def council() -> MeetingClock:
    day = (2026, 11, 26)
    return clock((*day, 18, 0), (*day, 21, 0))


def test_clerk_start_early_puts_meeting_in_session(council: MeetingClock) -> None:
    early = council.start - timedelta(minutes=40)
    m = _with(council, (ClerkAction.START, early))
    assert not m.in_session(early - MIN, GRACE)
    assert m.in_session(early, GRACE)
    assert m.in_session(council.start - GRACE - MIN, GRACE)  # schedule alone would say no


def test_clerk_adjourn_and_resume(council: MeetingClock) -> None:
    t = council.start
    m = _with(
        council,
        (ClerkAction.START, t),
        (ClerkAction.ADJOURN, t + timedelta(minutes=60)),
        (ClerkAction.RESUME, t + timedelta(minutes=75)),
    )
    assert m.state(t + timedelta(minutes=30), GRACE) is SessionState.IN_SESSION
    assert m.state(t + timedelta(minutes=61), GRACE) is SessionState.ADJOURNED
    assert not m.in_session(t + timedelta(minutes=61), GRACE)  # within the schedule, still free
    assert m.in_session(t + timedelta(minutes=75), GRACE)


def test_clerk_end_early_ends_it(council: MeetingClock) -> None:
    ended = council.start + timedelta(minutes=50)
    m = _with(council, (ClerkAction.START, council.start), (ClerkAction.END, ended))
    assert m.in_session(ended - MIN, GRACE)
    assert m.state(ended, GRACE) is SessionState.ENDED
    assert not m.in_session(council.end - timedelta(minutes=30), GRACE)


def test_clerk_overrun_stays_in_session_until_ended(council: MeetingClock) -> None:
    m = _with(council, (ClerkAction.START, council.start))
    late = council.end + timedelta(hours=1)  # well past end + grace
    assert m.in_session(late, GRACE)
    ended = _with(council, (ClerkAction.START, council.start), (ClerkAction.END, late))
    assert not ended.in_session(late + MIN, GRACE)


def test_forgotten_end_is_capped(council: MeetingClock) -> None:
    m = _with(council, (ClerkAction.START, council.start))
    assert m.in_session(council.start + CLERK_SESSION_CAP - MIN, GRACE)
    assert m.state(council.start + CLERK_SESSION_CAP, GRACE) is SessionState.ENDED


@pytest.mark.parametrize("offset_minutes", [-30, -5, 0, 60, 180, 184, 600])
def test_cancelled_is_never_in_session(council: MeetingClock, offset_minutes: int) -> None:
    m = _with(
        MeetingClock(1, "x", council.start, council.end, cancelled=True),
        (ClerkAction.START, council.start),
    )
    t = council.start + timedelta(minutes=offset_minutes)
    assert m.state(t, GRACE) is SessionState.CANCELLED
    assert meeting_in_session([m], t, GRACE) is None


def test_meeting_in_session_picks_the_earliest_of_overlapping(council: MeetingClock) -> None:
    later = MeetingClock(2, "Cabinet", council.start + timedelta(hours=1), council.end)
    t = council.start + timedelta(hours=1, minutes=30)
    assert meeting_in_session([later, council], t, GRACE) is council
    assert meeting_in_session([later], council.start, GRACE) is None
    assert meeting_in_session([], t, GRACE) is None


def test_zero_grace_boundaries(council: MeetingClock) -> None:
    zero = timedelta(0)
    assert council.in_session(council.start, zero)
    assert not council.in_session(council.start - timedelta(seconds=1), zero)
    assert not council.in_session(council.end, zero)
