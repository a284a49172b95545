"""Overrun extensions on the meeting clock and the clerk's per-meeting exceptions (issue 21)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from allowlist.clock import (
    EXTEND_FROM,
    ClerkAction,
    ClerkEvent,
    Extension,
    MeetingClock,
    SessionState,
)
from allowlist.decision import Action, Device, Member, Policy
from allowlist.exemptions import Exemption, Exemptions
from allowlist.rules import RuleSet

from .conftest import MEMBER_MAC, make_policy

GRACE = timedelta(minutes=5)
MIN = timedelta(minutes=1)
HALF_HOUR = timedelta(minutes=30)


def test_an_extension_moves_the_end_from_when_it_was_made(meeting: MeetingClock) -> None:
    made = meeting.end - MIN
    m = dataclasses.replace(meeting, extensions=(Extension(HALF_HOUR, made),))
    assert m.end_at(made - MIN) == meeting.end  # asked about the moment before: as it was
    assert m.end_at(made) == meeting.end + HALF_HOUR
    assert m.in_session(meeting.end + GRACE + MIN, GRACE)  # without it: ended
    assert not meeting.in_session(meeting.end + GRACE + MIN, GRACE)
    assert m.in_session(meeting.end + HALF_HOUR + GRACE - MIN, GRACE)
    assert m.state(meeting.end + HALF_HOUR + GRACE, GRACE) is SessionState.ENDED


def test_extensions_add_up(meeting: MeetingClock) -> None:
    t = meeting.end - MIN
    m = dataclasses.replace(meeting, extensions=(Extension(HALF_HOUR, t),
                                                 Extension(timedelta(hours=1), t + MIN)))
    assert m.end_at(t + MIN) == meeting.end + timedelta(minutes=90)
    assert m.in_session(meeting.end + timedelta(minutes=90) + GRACE - MIN, GRACE)


def test_extend_is_offered_only_near_the_end_while_in_session(meeting: MeetingClock) -> None:
    window = meeting.end + GRACE - EXTEND_FROM
    assert not meeting.can_extend(window - MIN, GRACE)
    assert meeting.can_extend(window, GRACE)
    assert not meeting.can_extend(meeting.end + GRACE, GRACE)  # ended by the schedule
    adjourned = dataclasses.replace(meeting, clerk=(
        ClerkEvent(ClerkAction.START, meeting.start),
        ClerkEvent(ClerkAction.ADJOURN, window - MIN)))
    assert not adjourned.can_extend(window, GRACE)
    started = dataclasses.replace(meeting, clerk=(ClerkEvent(ClerkAction.START, meeting.start),))
    assert started.can_extend(meeting.end + timedelta(hours=2), GRACE)  # overrunning
    extended = dataclasses.replace(meeting, extensions=(Extension(HALF_HOUR, window),))
    assert not extended.can_extend(window + MIN, GRACE)  # the window moved with the end


def test_restart_counts_from_the_new_start(meeting: MeetingClock) -> None:
    first, ended, again = (meeting.start, meeting.start + timedelta(hours=1),
                           meeting.start + timedelta(hours=2))
    m = dataclasses.replace(meeting, clerk=(
        ClerkEvent(ClerkAction.START, first), ClerkEvent(ClerkAction.END, ended),
        ClerkEvent(ClerkAction.START, again)))
    assert m.session_started(again + MIN) == again
    assert m.session_started(ended - MIN) == first


def test_exemption_names_exactly_one_thing() -> None:
    with pytest.raises(ValueError):
        Exemption(1)
    with pytest.raises(ValueError):
        Exemption(1, member_id=2, device_id=3)


@pytest.mark.parametrize("exemption", [Exemption(42, member_id=7), Exemption(42, device_id=1)])
def test_an_exempt_member_or_device_is_not_restricted_in_that_meeting(
        ruleset: RuleSet, meeting: MeetingClock, devices: dict[str, Device],
        exemption: Exemption) -> None:
    during = meeting.start + HALF_HOUR
    plain = make_policy(ruleset, meeting, devices)
    assert plain.decide("www.instagram.com", MEMBER_MAC, during).action is Action.REFUSE
    pol = dataclasses.replace(plain, exemptions=Exemptions.of([exemption]))
    r = pol.restriction(MEMBER_MAC, during)
    assert not r.restricted and r.reason == "an exception was granted for Full Council"
    assert pol.decide("www.instagram.com", MEMBER_MAC, during).action is Action.ALLOW


def test_an_exemption_for_another_meeting_or_member_changes_nothing(
        ruleset: RuleSet, meeting: MeetingClock, devices: dict[str, Device]) -> None:
    during = meeting.start + HALF_HOUR
    other = Exemptions.of([Exemption(43, member_id=7), Exemption(42, member_id=8),
                           Exemption(42, device_id=2)])
    pol: Policy = dataclasses.replace(make_policy(ruleset, meeting, devices), exemptions=other)
    assert pol.restriction(MEMBER_MAC, during).restricted
    assert Member(7, "Cllr Jones") == devices[MEMBER_MAC].member
