"""HTTP/1.x Host extraction."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.capture.http import HttpStatus, host_from_request, looks_like_http


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        (b"GET / HTTP/1.1\r\nHost: Example.COM\r\n\r\n", "example.com"),
        (b"POST /x HTTP/1.0\r\nUser-Agent: a\r\nhOsT:   cdn.example:8080 \r\n\r\n", "cdn.example"),
        (b"GET http://proxy.example/ HTTP/1.1\nHost: www.example.\n\n", "www.example"),
        (b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", "2001:db8::1"),
        (b"CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n\r\n", "api.example"),
    ],
)
def test_host(raw: bytes, host: str) -> None:
    assert looks_like_http(raw)
    assert host_from_request(raw) == host


def test_prefixes_need_more() -> None:
    raw = b"GET /generate_204 HTTP/1.1\r\nAccept: */*\r\nHost: clients3.google.com\r\n\r\n"
    for i in range(raw.index(b"\r\n\r\n") - 1):
        assert host_from_request(raw[:i]) is HttpStatus.NEED_MORE, i
    assert host_from_request(raw) == "clients3.google.com"


def test_not_http_and_no_host() -> None:
    assert host_from_request(b"\x16\x03\x01\x02\x00") is HttpStatus.NOT_HTTP
    assert host_from_request(b"GETX / HTTP/1.1\r\n") is HttpStatus.NOT_HTTP
    assert host_from_request(b"GET / SPDY/3\r\n\r\n") is HttpStatus.NOT_HTTP
    assert host_from_request(b"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n") is HttpStatus.NO_HOST
    assert not looks_like_http(b"SSH-2.0-OpenSSH")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    host_from_request(data)
    host_from_request(b"GET / HTTP/1.1\r\nHost: " + data)
