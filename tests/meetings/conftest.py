"""Shared fixtures: the hand-made documents, and a tiny HTTP server on 127.0.0.1 only."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass
class FakeSite:
    """What the loopback server serves, and what it was asked."""

    base_url: str
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    # path → (status, content type, body); the defaults imitate a modern.gov site
    routes: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    slow_seconds: float = 3.0


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must never be sent to a proxy from the environment."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def site(no_proxy: None) -> Iterator[FakeSite]:
    xml = "text/xml; charset=utf-8"
    state = FakeSite(base_url="")
    state.routes.update(
        {
            "/mgWebService.asmx/GetCommittees": (200, xml, fixture_bytes("getcommittees.xml")),
            "/mgWebService.asmx/GetMeetings": (200, xml, fixture_bytes("getmeetings.xml")),
            "/mgWebService.asmx/GetMeeting": (200, xml, fixture_bytes("getmeeting.xml")),
            "/calendar.ics": (200, "text/calendar", fixture_bytes("calendar.ics")),
            "/forbidden/mgWebService.asmx/GetMeetings": (
                403,
                "text/html",
                fixture_bytes("bad/error403.html"),
            ),
            "/forbidden.ics": (403, "text/html", fixture_bytes("bad/error403.html")),
            "/broken/mgWebService.asmx/GetMeetings": (
                500,
                "text/plain",
                b"System.InvalidOperationException: Missing parameter: sToDate.",
            ),
        }
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's spelling)
            parts = urlsplit(self.path)
            state.requests.append((parts.path, parse_qs(parts.query)))
            if parts.path.startswith("/slow"):
                time.sleep(state.slow_seconds)
                status, ctype, body = 200, "text/xml", fixture_bytes("getmeetings.xml")
            else:
                status, ctype, body = state.routes.get(
                    parts.path, (404, "text/plain", b"not found")
                )
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    state.base_url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
