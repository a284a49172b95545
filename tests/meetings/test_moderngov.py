"""modern.gov mgWebService parsing (no network: see test_http for the client)."""

from __future__ import annotations

from datetime import date, time

import pytest

from api.meetings.sources import SourceCommittee, SourceError, SourceMeeting
from api.meetings.sources.model import DEFAULT_DURATION
from api.meetings.sources.moderngov import (
    parse_committees,
    parse_date,
    parse_meeting,
    parse_meetings,
    parse_status,
    parse_time,
)
from tests.meetings.conftest import fixture_bytes, utc


def by_id(meetings: list[SourceMeeting]) -> dict[str, SourceMeeting]:
    return {m.source_id: m for m in meetings}


def xml_meetings(*meetings: str, title: str = "Cabinet") -> bytes:
    body = "".join(f"<meeting>{m}</meeting>" for m in meetings)
    return (
        f"<getmeetings><committee><committeeid>130</committeeid>"
        f"<committeetitle>{title}</committeetitle><committeemeetings>{body}"
        f"</committeemeetings></committee></getmeetings>"
    ).encode()


class TestGetCommittees:
    def test_committees_in_order_with_titles_decoded(self) -> None:
        assert parse_committees(fixture_bytes("getcommittees.xml")) == [
            SourceCommittee("126", "Council"),
            SourceCommittee("130", "Cabinet"),
            SourceCommittee("140", "Overview & Scrutiny Committee"),
            SourceCommittee("150", "Strategic Planning Committee"),
            SourceCommittee("160", "Licensing Sub-Committee"),
        ]

    def test_getmeetings_is_not_a_committee_list(self) -> None:
        with pytest.raises(SourceError, match="expected a GetCommittees answer"):
            parse_committees(fixture_bytes("getmeetings.xml"))

    def test_committee_without_id(self) -> None:
        doc = b"<getcommittees><committee><committeetitle>X</committeetitle></committee>"
        doc += b"</getcommittees>"
        with pytest.raises(SourceError, match="<committee> number 1 has no <committeeid>"):
            parse_committees(doc)


class TestGetMeetings:
    @pytest.fixture
    def meetings(self) -> dict[str, SourceMeeting]:
        return by_id(parse_meetings(fixture_bytes("getmeetings.xml")))

    def test_every_meeting_of_every_committee(self, meetings: dict[str, SourceMeeting]) -> None:
        assert sorted(meetings) == sorted(
            ["5001", "5002", "5003", "5010", "5011", "4001", "5020", "5030", "5040"]
        )

    def test_sorted_by_start(self) -> None:
        starts = [m.start for m in parse_meetings(fixture_bytes("getmeetings.xml"))]
        assert starts == sorted(starts)

    def test_a_meeting_record(self, meetings: dict[str, SourceMeeting]) -> None:
        assert meetings["5010"] == SourceMeeting(
            source="moderngov",
            source_id="5010",
            committee_id="130",
            committee_title="Cabinet",
            title="Cabinet",
            start=utc(2024, 3, 12, 19, 30),  # 7.30 pm GMT
            end=utc(2024, 3, 12, 19, 30) + DEFAULT_DURATION,
            status="confirmed",
            location=None,
            room=None,
            webcast=True,
            end_estimated=True,
        )

    def test_cancelled(self, meetings: dict[str, SourceMeeting]) -> None:
        assert meetings["5011"].status == "cancelled"
        assert meetings["5011"].cancelled
        assert meetings["5011"].webcast is False
        # 9 April is BST: 7.30 pm is 18:30 UTC
        assert meetings["5011"].start == utc(2024, 4, 9, 18, 30)

    def test_double_encoded_committee_title(self, meetings: dict[str, SourceMeeting]) -> None:
        assert meetings["5020"].committee_title == "Overview & Scrutiny Committee"

    def test_noon(self, meetings: dict[str, SourceMeeting]) -> None:
        assert meetings["5020"].start == utc(2024, 3, 14, 12, 0)  # "12.00 pm"

    def test_midnight_on_the_autumn_change_day(self, meetings: dict[str, SourceMeeting]) -> None:
        m = meetings["5003"]  # "12.00 am" on Sunday 27/10/2024: still BST at midnight
        assert m.start == utc(2024, 10, 26, 23, 0)
        # three hours of elapsed time, across the repeated hour
        assert m.end == utc(2024, 10, 27, 2, 0)

    def test_spring_change_day(self, meetings: dict[str, SourceMeeting]) -> None:
        # 10.00 am on Sunday 31/03/2024 is BST
        assert meetings["5001"].start == utc(2024, 3, 31, 9, 0)

    def test_autumn_change_day(self, meetings: dict[str, SourceMeeting]) -> None:
        # 10.00 am on Sunday 27/10/2024 is GMT again
        assert meetings["5002"].start == utc(2024, 10, 27, 10, 0)

    def test_summer_evening(self, meetings: dict[str, SourceMeeting]) -> None:
        assert meetings["5030"].start == utc(2024, 6, 19, 17, 0)  # 6.00 pm BST

    def test_date_range_filter_ignored_by_the_site_is_applied_here(self) -> None:
        got = parse_meetings(
            fixture_bytes("getmeetings.xml"), from_date=date(2024, 3, 1), to_date=date(2024, 3, 31)
        )
        assert [m.source_id for m in got] == ["5010", "5020", "5001"]

    def test_window_filter(self) -> None:
        got = parse_meetings(
            fixture_bytes("getmeetings.xml"), window=(utc(2024, 10, 26), utc(2024, 10, 27, 3))
        )
        assert [m.source_id for m in got] == ["5003"]

    def test_empty_answer(self) -> None:
        assert parse_meetings(b"<?xml version='1.0'?><getmeetings />") == []

    def test_namespaced_and_wrapped_answer(self) -> None:
        inner = xml_meetings(
            "<meetingid>7</meetingid><meetingdate>12/03/2024</meetingdate>"
            "<meetingtime>7.30 pm</meetingtime>"
        ).decode()
        inner = inner.replace("<getmeetings>", '<getmeetings xmlns="http://example/mg">', 1)
        doc = (
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f"<GetMeetingsResponse><GetMeetingsResult>{inner}</GetMeetingsResult>"
            "</GetMeetingsResponse></soap:Body></soap:Envelope>"
        )
        [m] = parse_meetings(doc.encode())
        assert (m.source_id, m.committee_title) == ("7", "Cabinet")

    def test_meeting_without_time_is_the_whole_london_day(self) -> None:
        [m] = parse_meetings(
            xml_meetings("<meetingid>7</meetingid><meetingdate>31/03/2024</meetingdate>")
        )
        assert (m.start, m.end) == (utc(2024, 3, 31, 0), utc(2024, 3, 30 + 1, 23))
        assert m.end_estimated

    def test_joint_meeting_listed_twice_is_kept_once(self) -> None:
        meeting = (
            "<meeting><meetingid>7</meetingid><meetingdate>12/03/2024</meetingdate>"
            "<meetingtime>7.30 pm</meetingtime></meeting>"
        )
        doc = (
            "<getmeetings>"
            f"<committee><committeeid>1</committeeid><committeetitle>Cabinet</committeetitle>"
            f"<committeemeetings>{meeting}</committeemeetings></committee>"
            f"<committee><committeeid>2</committeeid><committeetitle>Council</committeetitle>"
            f"<committeemeetings>{meeting}</committeemeetings></committee>"
            "</getmeetings>"
        ).encode()
        [m] = parse_meetings(doc)
        assert m.committee_id == "1"
        with pytest.raises(SourceError, match="meeting 7: listed twice with different times"):
            parse_meetings(doc.replace(b"7.30 pm", b"6.00 pm", 1))


class TestBadMeetingsRefuseTheWholeDocument:
    GOOD = (
        "<meetingid>1</meetingid><meetingdate>12/03/2024</meetingdate>"
        "<meetingtime>7 pm</meetingtime>"
    )

    @pytest.mark.parametrize(
        ("bad", "message"),
        [
            ("<meetingdate>12/03/2024</meetingdate>", r"<meeting> number 2 has no <meetingid>"),
            (
                "<meetingid>x1</meetingid><meetingdate>12/03/2024</meetingdate>",
                r"<meeting> number 2: unreadable <meetingid> 'x1'",
            ),
            ("<meetingid>2</meetingid>", r"meeting 2: no <meetingdate>"),
            (
                "<meetingid>2</meetingid><meetingdate>31/02/2024</meetingdate>",
                r"meeting 2 <meetingdate>: impossible date '31/02/2024'",
            ),
            (
                "<meetingid>2</meetingid><meetingdate>March 12</meetingdate>",
                r"meeting 2 <meetingdate>: unreadable date 'March 12'",
            ),
            ("<meetingid>2</meetingid><meetingdate>12/03/9999</meetingdate>", r"outside 1900-2200"),
            (
                "<meetingid>2</meetingid><meetingdate>12/03/2024</meetingdate>"
                "<meetingtime>TBC</meetingtime>",
                r"meeting 2 <meetingtime>: unreadable time 'TBC'",
            ),
            (
                "<meetingid>2</meetingid><meetingdate>12/03/2024</meetingdate>"
                "<meetingtime>13.00 pm</meetingtime>",
                r"meeting 2 <meetingtime>: impossible time",
            ),
            (
                "<meetingid>2</meetingid><meetingdate>12/03/2024</meetingdate>"
                "<iswebcast>Maybe</iswebcast>",
                r"meeting 2 <iswebcast>: unreadable yes/no value 'Maybe'",
            ),
        ],
    )
    def test_bad_meeting(self, bad: str, message: str) -> None:
        with pytest.raises(SourceError, match=message):
            parse_meetings(xml_meetings(self.GOOD, bad))

    def test_missing_committee_title(self) -> None:
        with pytest.raises(SourceError, match="meeting 1: no <committeetitle>"):
            parse_meetings(xml_meetings(self.GOOD, title=""))

    def test_bad_old_meeting_outside_the_range_does_not_block_the_import(self) -> None:
        old = (
            "<meetingid>2</meetingid><meetingdate>01/01/2010</meetingdate>"
            "<meetingtime>TBC</meetingtime>"
        )
        doc = xml_meetings(self.GOOD, old)
        [m] = parse_meetings(doc, from_date=date(2024, 1, 1), to_date=date(2024, 12, 31))
        assert m.source_id == "1"
        with pytest.raises(SourceError, match="meeting 2"):
            parse_meetings(doc)  # no range: every meeting counts

    def test_unreadable_date_outside_any_range_still_refuses(self) -> None:
        doc = xml_meetings(self.GOOD, "<meetingid>2</meetingid><meetingdate>soon</meetingdate>")
        with pytest.raises(SourceError, match="meeting 2 <meetingdate>"):
            parse_meetings(doc, from_date=date(2024, 1, 1), to_date=date(2024, 12, 31))


class TestGetMeeting:
    def test_location_room_and_times(self) -> None:
        m = parse_meeting(fixture_bytes("getmeeting.xml"))
        assert m.source_id == "5030"
        assert (m.committee_id, m.committee_title) == ("150", "Strategic Planning Committee")
        assert m.location == "Council Chamber, Town Hall, High Street, Exampleton EX1 1AA"
        assert m.room == "Council Chamber"
        assert m.webcast is True
        assert m.start == utc(2024, 6, 19, 17, 0)  # 6.00 pm BST
        assert m.end == utc(2024, 6, 19, 20, 30)  # planned finish 9.30 pm
        assert not m.end_estimated
        assert m.actual_start == utc(2024, 6, 19, 17, 5)
        assert m.actual_end == utc(2024, 6, 19, 21, 40)

    def test_agenda_items_are_not_meetings(self) -> None:
        assert [m.source_id for m in parse_meetings(fixture_bytes("getmeeting.xml"))] == ["5030"]

    def test_finish_after_midnight_is_next_day(self) -> None:
        doc = (
            b"<getmeeting><meeting><meetingid>9</meetingid><committeetitle>Council</committeetitle>"
            b"<meetingdate>12/03/2024</meetingdate><meetingtime>7.00 pm</meetingtime>"
            b"<plannedfinish>12.30 am</plannedfinish></meeting></getmeeting>"
        )
        m = parse_meeting(doc)
        assert (m.start, m.end) == (utc(2024, 3, 12, 19), utc(2024, 3, 13, 0, 30))

    def test_full_date_time_values(self) -> None:
        doc = (
            b"<meeting><meetingid>9</meetingid><committeetitle>Council</committeetitle>"
            b"<meetingdate>12/03/2024</meetingdate><plannedstart>12/03/2024 19:00:00</plannedstart>"
            b"<plannedfinish>2024-03-12T21:15:00Z</plannedfinish></meeting>"
        )
        m = parse_meeting(doc)
        assert (m.start, m.end) == (utc(2024, 3, 12, 19), utc(2024, 3, 12, 21, 15))

    def test_committee_list_is_not_a_meeting(self) -> None:
        with pytest.raises(SourceError, match="GetCommittees answer"):
            parse_meeting(fixture_bytes("getcommittees.xml"))

    def test_getmeetings_with_many_is_not_one_meeting(self) -> None:
        with pytest.raises(SourceError, match="expected one <meeting>.* found 9"):
            parse_meeting(fixture_bytes("getmeetings.xml"))


class TestUnsafeOrBrokenXml:
    def test_truncated(self) -> None:
        with pytest.raises(SourceError, match=r"the XML is truncated .* at line \d+, column \d+"):
            parse_meetings(fixture_bytes("bad/truncated.xml"))

    def test_billion_laughs_is_refused_not_expanded(self) -> None:
        with pytest.raises(SourceError, match="declares an entity.*billion laughs"):
            parse_meetings(fixture_bytes("bad/billion_laughs.xml"))

    def test_external_entity_is_not_fetched(self) -> None:
        doc = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
            b"<getmeetings><committee><committeetitle>&ext;</committeetitle></committee>"
            b"</getmeetings>"
        )
        with pytest.raises(SourceError, match="entity"):
            parse_meetings(doc)

    def test_html_is_named(self) -> None:
        with pytest.raises(SourceError, match="HTML"):
            parse_meetings(b"<html><body>Service Unavailable</body></html>")

    def test_other_xml_is_named(self) -> None:
        with pytest.raises(SourceError, match="unexpected XML root <rss>"):
            parse_meetings(b"<rss><channel/></rss>")

    def test_unknown_encoding(self) -> None:
        with pytest.raises(SourceError, match="XML"):
            parse_meetings(b'<?xml version="1.0" encoding="x-klingon"?><getmeetings/>')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7.30 pm", time(19, 30)),
        ("10.00 am", time(10, 0)),
        ("12.00 pm", time(12, 0)),
        ("12.00 am", time(0, 0)),
        ("12.30 am", time(0, 30)),
        ("7pm", time(19, 0)),
        ("7:30 p.m.", time(19, 30)),
        ("10.00AM", time(10, 0)),
        ("19:30", time(19, 30)),
        ("09.15", time(9, 15)),
        ("12 noon", time(12, 0)),
    ],
)
def test_times(text: str, expected: time) -> None:
    assert parse_time(text, where="t") == expected


@pytest.mark.parametrize("text", ["0.30 am", "13.00 pm", "24:00", "7.60 pm", "half seven", ""])
def test_bad_times(text: str) -> None:
    with pytest.raises(SourceError):
        parse_time(text, where="t")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Confirmed", "confirmed"),
        ("", "confirmed"),
        ("Cancelled", "cancelled"),
        ("CANCELED", "cancelled"),
        ("Postponed", "cancelled"),
        ("Provisional", "tentative"),
    ],
)
def test_statuses(text: str, status: str) -> None:
    assert parse_status(text) == status


@pytest.mark.parametrize("text", ["12/03/20245", "2024-03-123", "１２/03/2024"])
def test_dates_must_end_cleanly_and_be_ascii(text: str) -> None:
    with pytest.raises(SourceError, match="unreadable date"):
        parse_date(text, where="d")


def test_date_with_trailing_midnight_time() -> None:
    assert parse_date("12/03/2024 00:00:00", where="d") == date(2024, 3, 12)


def test_meeting_id_must_be_ascii_digits() -> None:
    doc = xml_meetings("<meetingid>١٢</meetingid><meetingdate>12/03/2024</meetingdate>")
    with pytest.raises(SourceError, match="unreadable <meetingid>"):
        parse_meetings(doc)


def test_fault_imports_name_the_line_of_a_bad_meeting() -> None:
    """Issue 20: imports are all or nothing with line numbers in the error — for a meeting
    that parses as XML but not as a meeting, too."""
    body = ("<?xml version=\"1.0\"?>\n<getmeetings>\n<committee>\n"
            "<committeeid>1</committeeid><committeetitle>Council</committeetitle>\n"
            "<committeemeetings>\n<meeting><meetingid>1</meetingid>\n"
            "<meetingdate>12/03/2024</meetingdate></meeting>\n"
            "<meeting><meetingid>2</meetingid>\n"                          # line 8
            "<meetingdate>31/02/2024</meetingdate></meeting>\n"
            "</committeemeetings></committee></getmeetings>\n")
    with pytest.raises(SourceError) as info:
        parse_meetings(body.encode())
    assert str(info.value).startswith("line 8, meeting 2 <meetingdate>: impossible date")
