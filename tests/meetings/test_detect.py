"""Detection: the document says what it is; bad input is named and nothing is returned."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from api.meetings.sources import SourceError, load, parse_document, sniff
from tests.meetings.conftest import FIXTURES, fixture_bytes, utc


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("getmeetings.xml", "moderngov"),
        ("getmeeting.xml", "moderngov"),
        ("calendar.ics", "ical"),
        ("bad/error403.html", "html"),
        ("bad/truncated.xml", "moderngov"),
    ],
)
def test_sniff(name: str, kind: str) -> None:
    assert sniff(fixture_bytes(name)) == kind


def test_sniff_sees_through_bom_and_utf16() -> None:
    assert sniff(b"\xef\xbb\xbf  BEGIN:VCALENDAR\r\n") == "ical"
    assert sniff("<getmeetings/>".encode("utf-16")) == "moderngov"
    assert sniff(b"garbage") == "unknown"
    assert sniff(b"garbage", "text/html; charset=utf-8") == "html"


def test_modern_gov_getmeetings() -> None:
    assert len(parse_document(fixture_bytes("getmeetings.xml"))) == 9


def test_modern_gov_getmeeting() -> None:
    [m] = parse_document(fixture_bytes("getmeeting.xml"))
    assert m.room == "Council Chamber"


def test_utf16_xml_with_bom() -> None:
    text = fixture_bytes("getmeeting.xml").decode().replace('encoding="utf-8"', 'encoding="utf-16"')
    [m] = parse_document(text.encode("utf-16"))
    assert m.source_id == "5030"


def test_icalendar_with_window() -> None:
    got = parse_document(
        fixture_bytes("calendar.ics"),
        content_type="text/calendar",
        window=(utc(2024, 3, 1), utc(2024, 3, 21)),
    )
    assert [m.title for m in got] == ["Overview & Scrutiny Committee", "Council"]


def test_content_type_does_not_override_the_body() -> None:
    # a misconfigured site labelling XML as text/html must still import
    assert len(parse_document(fixture_bytes("getmeetings.xml"), content_type="text/html")) == 9


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the document is empty"),
        (b"  \r\n ", "the document is empty"),
        (
            fixture_bytes("bad/error403.html"),
            r"the document is HTML, not modern.gov XML or iCalendar: page title "
            r"'403 - Forbidden: Access is denied.'",
        ),
        (fixture_bytes("bad/truncated.xml"), r"the XML is truncated .* line \d+, column \d+"),
        (fixture_bytes("bad/billion_laughs.xml"), "billion laughs"),
        (fixture_bytes("bad/no_dtstart.ics"), "UID 'no-start@exampleton.gov.uk'.*no DTSTART"),
        (fixture_bytes("getcommittees.xml"), "GetCommittees answer"),
        (b"\x00\x01\x02garbage", r"not modern.gov XML or iCalendar: it starts '\\x00"),
        (b'{"meetings": []}', "not modern.gov XML or iCalendar"),
    ],
)
def test_bad_documents(data: bytes, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_document(data)


def test_html_with_status_says_the_site_answered() -> None:
    with pytest.raises(SourceError, match=r"the site answered HTML, not .* \(HTTP 403\)"):
        parse_document(fixture_bytes("bad/error403.html"), status=403)


def test_xhtml_with_xml_declaration_is_html() -> None:
    page = b'<?xml version="1.0"?>\n<!-- proxy -->\n<html><head><title>Login</title></head></html>'
    with pytest.raises(SourceError, match="HTML.*'Login'"):
        parse_document(page)


class TestLoadFiles:
    def test_file(self) -> None:
        assert len(load(str(FIXTURES / "getmeetings.xml"))) == 9

    def test_errors_name_the_file(self) -> None:
        path = str(FIXTURES / "bad" / "truncated.xml")
        with pytest.raises(SourceError, match=rf"^{path}: the XML is truncated"):
            load(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(SourceError, match="cannot read the file: No such file"):
            load(str(tmp_path / "nope.ics"))

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(SourceError, match="cannot read the file"):
            load(str(tmp_path))

    def test_other_schemes_are_refused(self) -> None:
        with pytest.raises(SourceError, match="only files and http"):
            load("ftp://example.invalid/meetings.ics")


def test_fault_7_meetings_import_dev_zero_is_bounded(tmp_path: Path) -> None:
    """Issue 20, fault 7: ``meetings import /dev/zero`` read without limit (stat says 0)."""
    with pytest.raises(SourceError, match="larger than .* bytes; refused") as info:
        load("/dev/zero")
    assert str(info.value).startswith("/dev/zero: ")
    # A FIFO says 0 too; one that ends within the cap is read and parsed as usual.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    body = fixture_bytes("calendar.ics")
    t = threading.Thread(target=lambda: fifo.write_bytes(body))
    t.start()
    assert load(str(fifo))
    t.join()
