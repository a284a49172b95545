"""Whatever bytes arrive, parse_document either returns meetings or raises SourceError.

Random bytes find crashes in sniffing; mutated fixtures get past the sniffing into the XML,
modern.gov and iCalendar parsers, where odd-but-parseable values live.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.meetings.sources import SourceError, SourceMeeting, parse_document
from api.meetings.sources.model import is_utc
from tests.meetings.conftest import fixture_bytes, utc

WINDOW = (utc(2024, 1, 1), utc(2025, 1, 1))
SEEDS = [
    fixture_bytes(name)
    for name in (
        "getmeetings.xml",
        "getmeeting.xml",
        "calendar.ics",
        "bad/no_dtstart.ics",
        "bad/error403.html",
        "bad/truncated.xml",
    )
]
# Tokens that make mutations interesting rather than merely broken.
TOKENS = [
    b"12.00 am",
    b"99.99 pm",
    b"31/02/2024",
    b"01/01/0001",
    b"&amp;amp;",
    b"<meeting>",
    b"</meeting>",
    b"<meetingid>",
    b"RRULE:FREQ=DAILY",
    b"RRULE:FREQ=YEARLY;COUNT=999999",
    b"EXDATE:20240101",
    b"RECURRENCE-ID:20240314T190000Z",
    b"TZID=Nowhere/Land",
    b";VALUE=DATE",
    b"DTSTART:99991231T235959Z",
    b"DURATION:P9999W",
    b"\r\n ",
    b"\x00",
    b"\xff\xfe",
    b"<!DOCTYPE",
    b"<!ENTITY a 'b'>",
    b"BEGIN:VEVENT\r\n",
    b"END:VEVENT\r\n",
    b"STATUS:CANCELLED",
    b"-1",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["delete", "insert", "token", "flip", "duplicate"]))
        if op == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif op == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif op == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 200))]
    return bytes(data)


def check(result: list[SourceMeeting]) -> None:
    for m in result:
        assert is_utc(m.start) and is_utc(m.end) and m.end > m.start
        assert m.end - m.start <= timedelta(days=367)


def run(data: bytes, window: tuple | None, content_type: str | None = None) -> None:
    try:
        result = parse_document(data, content_type=content_type, window=window)
    except SourceError as exc:
        assert str(exc)  # every refusal says something
        return
    check(result)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from([None, "text/html", "text/calendar"]))
def test_random_bytes(data: bytes, content_type: str | None) -> None:
    run(data, WINDOW, content_type)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([b"<", b"BEGIN:VCALENDAR\r\n", b"<?xml version='1.0'?><getmeetings>"]),
    st.binary(max_size=500),
)
def test_random_bytes_after_a_plausible_start(head: bytes, tail: bytes) -> None:
    run(head + tail, WINDOW)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.sampled_from([WINDOW, None]))
def test_mutated_fixtures(data: bytes, window: tuple | None) -> None:
    run(data, window)
