"""The pre-meeting check's network lines against a real local web server: green when the
host resolves and answers, red (with the reason) when it does not (issue 21)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from dashboard.check import _reach


@pytest.fixture
def local_site() -> Iterator[int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        t.join(5)


def test_reach_is_green_when_the_site_answers(local_site: int) -> None:
    c = _reach("localhost", lambda h: f"http://127.0.0.1:{local_site}/")
    assert c.status == "ok" and "HTTP 200" in c.text


def test_reach_is_red_when_nothing_answers() -> None:
    c = _reach("localhost", lambda h: "http://127.0.0.1:9/")  # discard port: nothing listens
    assert c.status == "fail" and "does not answer" in c.text


def test_reach_is_red_when_the_name_does_not_resolve() -> None:
    c = _reach("no-such-host.invalid", lambda h: f"http://{h}/")
    assert c.status == "fail" and "does not resolve" in c.text
