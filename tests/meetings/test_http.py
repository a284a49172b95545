"""The HTTP side, against a tiny server on 127.0.0.1 started by the test (loopback only)."""

from __future__ import annotations

from datetime import date

import pytest

from api.meetings.sources import ModernGovClient, SourceError, load
from tests.meetings.conftest import FakeSite, utc


def test_get_committees(site: FakeSite) -> None:
    with ModernGovClient(site.base_url, timeout=5) as client:
        committees = client.get_committees()
    assert [c.title for c in committees][:3] == [
        "Council",
        "Cabinet",
        "Overview & Scrutiny Committee",
    ]
    assert site.requests == [("/mgWebService.asmx/GetCommittees", {"lDays": ["0"]})]


def test_get_meetings_sends_uk_dates_and_filters_what_the_site_ignored(site: FakeSite) -> None:
    with ModernGovClient(site.base_url + "/mgWebService.asmx/", timeout=5) as client:
        got = client.get_meetings(from_date=date(2024, 3, 1), to_date=date(2024, 3, 31))
    assert [m.source_id for m in got] == ["5010", "5020", "5001"]  # not 2019, not October
    path, query = site.requests[0]
    assert path == "/mgWebService.asmx/GetMeetings"
    assert query == {
        "lCommitteeId": ["-1"],
        "sFromDate": ["01/03/2024"],
        "sToDate": ["31/03/2024"],
    }


def test_get_meetings_for_one_committee(site: FakeSite) -> None:
    with ModernGovClient(site.base_url, timeout=5) as client:
        client.get_meetings(130, from_date=date(2024, 1, 1), to_date=date(2024, 12, 31))
    assert site.requests[0][1]["lCommitteeId"] == ["130"]


def test_get_meeting(site: FakeSite) -> None:
    with ModernGovClient(site.base_url, timeout=5) as client:
        m = client.get_meeting(5030)
    assert (m.location, m.room) == (
        "Council Chamber, Town Hall, High Street, Exampleton EX1 1AA",
        "Council Chamber",
    )
    assert site.requests[0][1] == {"lMeetingId": ["5030"]}


def test_get_meeting_answering_another_meeting_is_refused(site: FakeSite) -> None:
    with ModernGovClient(site.base_url, timeout=5) as client:
        with pytest.raises(
            SourceError, match="asked for meeting 77, the site answered meeting 5030"
        ):
            client.get_meeting(77)


def test_html_403_is_named_with_its_status(site: FakeSite) -> None:
    with ModernGovClient(site.base_url + "/forbidden", timeout=5) as client:
        with pytest.raises(SourceError) as info:
            client.get_meetings(from_date=date(2024, 3, 1), to_date=date(2024, 3, 31))
    message = str(info.value)
    assert "the site answered HTML, not modern.gov XML (HTTP 403)" in message
    assert "403 - Forbidden: Access is denied." in message
    assert message.startswith(site.base_url + "/forbidden/mgWebService.asmx/GetMeetings")


def test_non_html_error_status(site: FakeSite) -> None:
    with ModernGovClient(site.base_url + "/broken", timeout=5) as client:
        with pytest.raises(SourceError, match="HTTP 500: System.InvalidOperationException"):
            client.get_meetings(from_date=date(2024, 3, 1), to_date=date(2024, 3, 31))


def test_timeout(site: FakeSite) -> None:
    with ModernGovClient(site.base_url + "/slow", timeout=0.3) as client:
        with pytest.raises(SourceError, match=r"timed out after 0.3 s"):
            client.get_meetings(from_date=date(2024, 3, 1), to_date=date(2024, 3, 31))


def test_nothing_listening() -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ModernGovClient(f"http://127.0.0.1:{port}", timeout=2) as client:
        with pytest.raises(SourceError, match="could not fetch"):
            client.get_committees()


def test_oversize_answer_is_refused(site: FakeSite) -> None:
    with ModernGovClient(site.base_url, timeout=5, max_bytes=100) as client:
        with pytest.raises(SourceError, match="larger than 100 bytes"):
            client.get_committees()


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="must be http"):
        ModernGovClient("democracy.example.gov.uk")


class TestLoadUrl:
    def test_icalendar_url(self, site: FakeSite) -> None:
        got = load(site.base_url + "/calendar.ics", window=(utc(2024, 3, 1), utc(2024, 3, 21)))
        assert [m.title for m in got] == ["Overview & Scrutiny Committee", "Council"]

    def test_modern_gov_url(self, site: FakeSite) -> None:
        url = site.base_url + "/mgWebService.asmx/GetMeetings?lCommitteeId=-1"
        assert len(load(url)) == 9

    def test_html_403(self, site: FakeSite) -> None:
        with pytest.raises(
            SourceError,
            match=r"forbidden.ics: the site answered HTML, not modern.gov XML or iCalendar "
            r"\(HTTP 403\)",
        ):
            load(site.base_url + "/forbidden.ics")

    def test_404(self, site: FakeSite) -> None:
        with pytest.raises(SourceError, match="HTTP 404: not found"):
            load(site.base_url + "/nope.ics")

    def test_timeout(self, site: FakeSite) -> None:
        with pytest.raises(SourceError, match="timed out"):
            load(site.base_url + "/slow.ics", timeout=0.3)
