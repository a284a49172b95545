"""The shared record and the London ↔ UTC rules every source relies on."""

from __future__ import annotations

import pickle
from datetime import date, datetime, time, timedelta, timezone

import pytest

from api.meetings.sources.model import (
    SourceError,
    SourceMeeting,
    check_window,
    clean_text,
    london_day,
    london_to_utc,
    overlaps,
)
from tests.meetings.conftest import utc


def meeting(**overrides: object) -> SourceMeeting:
    fields: dict[str, object] = dict(
        source="moderngov",
        source_id="1",
        committee_id="126",
        committee_title="Council",
        title="Council",
        start=utc(2024, 3, 12, 19, 30),
        end=utc(2024, 3, 12, 22, 30),
        status="confirmed",
    )
    fields.update(overrides)
    return SourceMeeting(**fields)  # type: ignore[arg-type]


class TestLondonToUtc:
    def test_winter_is_gmt(self) -> None:
        assert london_to_utc(date(2024, 1, 15), time(19, 30)) == utc(2024, 1, 15, 19, 30)

    def test_summer_is_bst(self) -> None:
        assert london_to_utc(date(2024, 6, 19), time(18)) == utc(2024, 6, 19, 17)

    def test_spring_forward_day(self) -> None:
        # last Sunday of March 2024: clocks go 01:00 GMT → 02:00 BST
        assert london_to_utc(date(2024, 3, 31), time(0, 30)) == utc(2024, 3, 31, 0, 30)
        assert london_to_utc(date(2024, 3, 31), time(10)) == utc(2024, 3, 31, 9)

    def test_time_in_the_spring_gap_uses_the_offset_before_it(self) -> None:
        # 01:30 does not exist in London that day; read as GMT, i.e. 02:30 BST
        assert london_to_utc(date(2024, 3, 31), time(1, 30)) == utc(2024, 3, 31, 1, 30)

    def test_autumn_back_day(self) -> None:
        # last Sunday of October 2024: 02:00 BST → 01:00 GMT
        assert london_to_utc(date(2024, 10, 27), time(0)) == utc(2024, 10, 26, 23)
        assert london_to_utc(date(2024, 10, 27), time(10)) == utc(2024, 10, 27, 10)

    def test_repeated_autumn_hour_is_the_first_one(self) -> None:
        assert london_to_utc(date(2024, 10, 27), time(1, 30)) == utc(2024, 10, 27, 0, 30)

    def test_result_is_utc(self) -> None:
        assert london_to_utc(date(2024, 6, 1), time(9)).utcoffset() == timedelta(0)


def test_london_days_on_dst_changes_are_23_and_25_hours() -> None:
    start, end = london_day(date(2024, 3, 31))
    assert (start, end - start) == (utc(2024, 3, 31, 0), timedelta(hours=23))
    start, end = london_day(date(2024, 10, 27))
    assert (start, end - start) == (utc(2024, 10, 26, 23), timedelta(hours=25))


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Overview &amp;amp; Scrutiny", "Overview & Scrutiny"),
        ("Overview &amp; Scrutiny", "Overview & Scrutiny"),
        ("  Planning\n  Committee\u00a0(North) ", "Planning Committee (North)"),
        ("Members&#39; Allowances", "Members' Allowances"),
        (None, ""),
    ],
)
def test_clean_text(raw: str | None, clean: str) -> None:
    assert clean_text(raw) == clean


class TestSourceMeeting:
    def test_valid(self) -> None:
        m = meeting()
        assert not m.cancelled
        assert meeting(status="cancelled").cancelled

    def test_frozen(self) -> None:
        with pytest.raises(AttributeError):
            meeting().title = "x"  # type: ignore[misc]

    def test_naive_times_refused(self) -> None:
        with pytest.raises(SourceError, match="start is not an aware UTC datetime"):
            meeting(start=datetime(2024, 3, 12, 19, 30))

    def test_non_utc_times_refused(self) -> None:
        plus_one = timezone(timedelta(hours=1))
        with pytest.raises(SourceError, match="end is not an aware UTC"):
            meeting(end=datetime(2024, 3, 12, 23, 30, tzinfo=plus_one))

    def test_end_must_follow_start(self) -> None:
        with pytest.raises(SourceError, match="ends .* before it starts"):
            meeting(end=utc(2024, 3, 12, 19, 30))

    def test_unknown_status_refused(self) -> None:
        with pytest.raises(SourceError, match="unknown status 'postponed'"):
            meeting(status="postponed")


def test_source_error_names_where_and_survives_pickling() -> None:
    err = SourceError("no <meetingdate>", where="meeting 5001")
    assert str(err) == "meeting 5001: no <meetingdate>"
    assert str(err.within("https://x/GetMeetings")) == (
        "https://x/GetMeetings: meeting 5001: no <meetingdate>"
    )
    assert isinstance(err, ValueError)
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


def test_window_overlap_and_checks() -> None:
    window = (utc(2024, 3, 1), utc(2024, 4, 1))
    assert overlaps(utc(2024, 2, 29, 23), utc(2024, 3, 1, 1), window)
    assert not overlaps(utc(2024, 2, 29, 20), utc(2024, 3, 1), window)
    assert not overlaps(utc(2024, 4, 1), utc(2024, 4, 1, 3), window)
    assert overlaps(utc(1999, 1, 1), utc(1999, 1, 2), None)
    with pytest.raises(ValueError, match="aware"):
        check_window((datetime(2024, 1, 1), utc(2024, 2, 1)))
    with pytest.raises(ValueError, match="end after"):
        check_window((utc(2024, 2, 1), utc(2024, 1, 1)))
