"""iCalendar parsing: zones, floating and all-day times, status, recurrence."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.meetings.sources import SourceError, SourceMeeting
from api.meetings.sources.ical import parse_ical
from api.meetings.sources.model import DEFAULT_DURATION
from tests.meetings.conftest import fixture_bytes, utc

WIDE = (utc(2024, 1, 1), utc(2025, 1, 1))


def ics(*events: str, extra: str = "") -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    text = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\n{extra}{body}END:VCALENDAR\r\n"
    return text.replace("\n    ", "\n").encode()


def by_id(meetings: list[SourceMeeting]) -> dict[str, SourceMeeting]:
    return {m.source_id: m for m in meetings}


class TestFixtureCalendar:
    @pytest.fixture
    def meetings(self) -> dict[str, SourceMeeting]:
        return by_id(parse_ical(fixture_bytes("calendar.ics"), window=WIDE))

    def test_vtimezone_tzid(self, meetings: dict[str, SourceMeeting]) -> None:
        m = meetings["council-20240320@exampleton.gov.uk"]
        assert (m.start, m.end) == (utc(2024, 3, 20, 19), utc(2024, 3, 20, 22))
        assert m.location == "Council Chamber, Town Hall, High Street, Exampleton EX1 1AA"
        assert (m.source, m.committee_id, m.committee_title) == ("ical", None, "Council")
        assert m.status == "confirmed" and not m.end_estimated

    def test_folded_line_and_duration(self, meetings: dict[str, SourceMeeting]) -> None:
        m = meetings["planning-20240403@exampleton.gov.uk"]
        assert m.title == (
            "Strategic Planning Committee - applications for the north of the borough"
        )
        assert (m.start, m.end) == (utc(2024, 4, 3, 17, 30), utc(2024, 4, 3, 20, 0))  # BST

    def test_all_day_event_is_the_whole_london_day(
        self, meetings: dict[str, SourceMeeting]
    ) -> None:
        m = meetings["budget-day-20240331@exampleton.gov.uk"]
        # 31 March 2024 is the spring change: 23 hours long
        assert (m.start, m.end) == (utc(2024, 3, 31, 0), utc(2024, 3, 31, 23))

    def test_cancelled(self, meetings: dict[str, SourceMeeting]) -> None:
        m = meetings["cabinet-20240416@exampleton.gov.uk"]
        assert m.cancelled
        assert (m.start, m.end) == (utc(2024, 4, 16, 18), utc(2024, 4, 16, 20))  # UTC "Z"

    def test_floating_time_is_london_and_default_duration(
        self, meetings: dict[str, SourceMeeting]
    ) -> None:
        m = meetings["licensing-20240701@exampleton.gov.uk"]
        assert m.start == utc(2024, 7, 1, 9)  # 10:00 BST
        assert m.end == m.start + DEFAULT_DURATION and m.end_estimated

    def test_weekly_rule_with_exdate_and_a_moved_occurrence(
        self, meetings: dict[str, SourceMeeting]
    ) -> None:
        weekly = sorted(
            (m for m in meetings.values() if m.source_id.startswith("os-weekly@")),
            key=lambda m: m.start,
        )
        assert [m.source_id.split("#")[1] for m in weekly] == [
            "20240314T190000Z",
            "20240321T190000Z",
            # 28 March excluded by EXDATE
            "20240404T180000Z",  # 7 pm stays 7 pm after the clocks change: 18:00 UTC
            "20240411T180000Z",  # the override keeps the id of the occurrence it replaces
            "20240418T180000Z",
        ]
        moved = weekly[3]
        assert moved.start == utc(2024, 4, 11, 17, 30)
        assert (moved.title, moved.location) == (
            "Overview & Scrutiny Committee (moved)",
            "Committee Room 1",
        )
        assert weekly[0].title == "Overview & Scrutiny Committee"  # &amp; decoded
        assert all(m.end - m.start == timedelta(hours=2) for m in weekly)

    def test_window_limits_what_is_returned(self) -> None:
        got = parse_ical(fixture_bytes("calendar.ics"), window=(utc(2024, 4, 4), utc(2024, 4, 12)))
        assert [m.source_id for m in got] == [
            "os-weekly@exampleton.gov.uk#20240404T180000Z",
            "os-weekly@exampleton.gov.uk#20240411T180000Z",
        ]

    def test_bounded_rules_expand_without_a_window(self) -> None:
        assert len(parse_ical(fixture_bytes("calendar.ics"))) == 10


class TestZones:
    def test_windows_zone_name(self) -> None:
        [m] = parse_ical(ics("UID:a\r\nDTSTART;TZID=GMT Standard Time:20240705T190000"))
        assert m.start == utc(2024, 7, 5, 18)

    def test_unknown_tzid_is_an_error_not_a_guess(self) -> None:
        with pytest.raises(SourceError, match=r"UID 'a'.*unknown time zone TZID='Mars/Olympus'"):
            parse_ical(ics("UID:a\r\nDTSTART;TZID=Mars/Olympus:20240705T190000"))

    def test_other_iana_zone(self) -> None:
        [m] = parse_ical(ics("UID:a\r\nDTSTART;TZID=Europe/Paris:20240705T190000"))
        assert m.start == utc(2024, 7, 5, 17)


class TestRecurrence:
    def test_weekly_across_the_autumn_change_keeps_wall_time(self) -> None:
        got = parse_ical(
            ics("UID:w\r\nDTSTART;TZID=Europe/London:20241017T190000\r\nRRULE:FREQ=WEEKLY;COUNT=3")
        )
        assert [m.start for m in got] == [
            utc(2024, 10, 17, 18),
            utc(2024, 10, 24, 18),
            utc(2024, 10, 31, 19),
        ]

    def test_until_in_utc_and_as_a_date(self) -> None:
        for until in ("20240402T000000Z", "20240401"):
            got = parse_ical(
                ics(
                    "UID:w\r\nDTSTART;TZID=Europe/London:20240318T190000\r\n"
                    f"RRULE:FREQ=WEEKLY;UNTIL={until}"
                )
            )
            assert len(got) == 3, until

    def test_unbounded_rule_needs_a_window(self) -> None:
        doc = ics("UID:w\r\nDTSTART:20240318T190000Z\r\nRRULE:FREQ=MONTHLY")
        with pytest.raises(SourceError, match="UID 'w'.*no COUNT or UNTIL; give a window"):
            parse_ical(doc)
        got = parse_ical(doc, window=(utc(2024, 1, 1), utc(2024, 7, 1)))
        assert [m.start.month for m in got] == [3, 4, 5, 6]

    def test_rdate_and_date_exdate(self) -> None:
        got = parse_ical(
            ics(
                "UID:r\r\nDTSTART;TZID=Europe/London:20240318T190000\r\n"
                "RRULE:FREQ=WEEKLY;COUNT=3\r\n"
                "RDATE;TZID=Europe/London:20240410T183000\r\n"
                "EXDATE;VALUE=DATE:20240325"
            )
        )
        assert [m.source_id for m in got] == [
            "r#20240318T190000Z",
            "r#20240401T180000Z",
            "r#20240410T173000Z",
        ]

    def test_cancelled_override_cancels_one_occurrence(self) -> None:
        got = parse_ical(
            ics(
                "UID:c\r\nDTSTART:20240318T190000Z\r\nRRULE:FREQ=WEEKLY;COUNT=2",
                "UID:c\r\nRECURRENCE-ID:20240325T190000Z\r\nDTSTART:20240325T190000Z\r\n"
                "STATUS:CANCELLED",
            )
        )
        assert [(m.source_id, m.status) for m in got] == [
            ("c#20240318T190000Z", "confirmed"),
            ("c#20240325T190000Z", "cancelled"),
        ]

    def test_all_day_recurrence(self) -> None:
        got = parse_ical(ics("UID:d\r\nDTSTART;VALUE=DATE:20241026\r\nRRULE:FREQ=DAILY;COUNT=2"))
        assert [(m.source_id, m.end - m.start) for m in got] == [
            ("d#20241026", timedelta(hours=24)),
            ("d#20241027", timedelta(hours=25)),
        ]

    def test_sub_daily_rules_are_refused(self) -> None:
        with pytest.raises(SourceError, match="FREQ=SECONDLY is not supported"):
            parse_ical(ics("UID:s\r\nDTSTART:20240318T190000Z\r\nRRULE:FREQ=SECONDLY;COUNT=5"))

    def test_runaway_rule_is_refused(self) -> None:
        doc = ics("UID:s\r\nDTSTART:19000101T190000Z\r\nRRULE:FREQ=DAILY")
        with pytest.raises(SourceError, match="more than 20000 occurrences"):
            parse_ical(doc, window=(utc(2150, 1, 1), utc(2150, 2, 1)))


class TestBadEvents:
    def test_no_dtstart_names_the_event_and_returns_nothing(self) -> None:
        with pytest.raises(
            SourceError,
            match=r"VEVENT at line 10 \(UID 'no-start@exampleton.gov.uk'\): "
            r"the event has no DTSTART",
        ):
            parse_ical(fixture_bytes("bad/no_dtstart.ics"))

    def test_no_dtstart_and_no_uid_names_the_line(self) -> None:
        with pytest.raises(SourceError, match=r"VEVENT at line 4 \('Cabinet'\): .* no DTSTART"):
            parse_ical(ics("SUMMARY:Cabinet"))

    @pytest.mark.parametrize(
        ("event", "message"),
        [
            ("UID:x\r\nDTSTART:2024031", "unreadable DTSTART"),
            ("UID:x\r\nDTSTART:20240318T190000Z\r\nDTEND:20240318T180000Z", "before DTSTART"),
            ("UID:x\r\nDTSTART;VALUE=DATE:20240318\r\nDTEND:20240318T180000Z", "both dates"),
            ("UID:x\r\nDTSTART:20240318T190000Z\r\nDURATION:-PT1H", "DURATION is negative"),
            ("UID:x\r\nDTSTART:99990318T190000Z", "outside 1900-2200"),
            ("UID:x\r\nDTSTART:20240318T190000Z\r\nRRULE:FREQ=WEEKLY;COUNT=x", "RRULE"),
        ],
    )
    def test_bad_event(self, event: str, message: str) -> None:
        with pytest.raises(SourceError, match=message):
            parse_ical(ics("UID:ok\r\nDTSTART:20240318T190000Z", event))

    def test_duplicate_uid(self) -> None:
        with pytest.raises(SourceError, match="UID 'x' is used by two events"):
            parse_ical(
                ics("UID:x\r\nDTSTART:20240318T190000Z", "UID:x\r\nDTSTART:20240319T190000Z")
            )

    def test_not_utf8(self) -> None:
        with pytest.raises(SourceError, match="not UTF-8"):
            parse_ical(
                ics("UID:x\r\nDTSTART:20240318T190000Z\r\nSUMMARY:caf\xe9").replace(
                    "é".encode(), b"\xe9"
                )
            )

    def test_not_a_calendar(self) -> None:
        with pytest.raises(SourceError, match="BEGIN:VCALENDAR"):
            parse_ical(b"BEGIN:VCARD\r\nEND:VCARD\r\n")


def test_point_in_time_event_gets_the_default_duration() -> None:
    [m] = parse_ical(ics("UID:p\r\nDTSTART:20240318T190000Z\r\nDTEND:20240318T190000Z"))
    assert m.end == m.start + DEFAULT_DURATION and m.end_estimated


def test_event_without_uid_gets_a_stable_id() -> None:
    doc = ics("SUMMARY:Cabinet\r\nDTSTART:20240318T190000Z")
    first, second = parse_ical(doc), parse_ical(doc)
    assert first[0].source_id == second[0].source_id
    assert first[0].source_id.startswith("nouid-")


def test_method_cancel_cancels_everything() -> None:
    [m] = parse_ical(ics("UID:a\r\nDTSTART:20240318T190000Z", extra="METHOD:CANCEL\r\n"))
    assert m.cancelled


def test_tentative() -> None:
    [m] = parse_ical(ics("UID:a\r\nDTSTART:20240318T190000Z\r\nSTATUS:TENTATIVE"))
    assert m.status == "tentative"
