"""``sync`` against a fake modern.gov site on 127.0.0.1 (nothing leaves the machine): the
window, GetMeeting for rooms, removal of meetings that disappeared, all-or-nothing, iCal,
and the periodic task."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from api.errors import Invalid
from api.meetings.sources import SourceError
from api.meetings.sync import run_periodic_sync, sync, sync_window
from monitor.store.models import AuditRow, Event
from monitor.store.policy_loader import load_policy
from tests.meetings.conftest import FIXTURES, fixture_bytes, utc
from tests.meetings.test_sync import Env, add_member_device, dump, make_env, restricted

NOW = utc(2024, 3, 15, 12)  # window: London dates 08/03/2024 - 13/06/2024
SYNC = FIXTURES / "sync"


@dataclass
class FakeModernGov:
    """GetMeetings answers ``listing`` whatever the dates (as some real sites do);
    GetMeeting answers ``details[lMeetingId]``."""

    base_url: str = ""
    listing: bytes = b""
    details: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)  # path or meeting id → HTTP status
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)

    def detail_ids(self) -> list[str]:
        return [q["lMeetingId"][0] for p, q in self.requests if p.endswith("/GetMeeting")]


@pytest.fixture(name="fake")
def fake_fixture(no_proxy: None) -> Iterator[FakeModernGov]:
    state = FakeModernGov(listing=(SYNC / "getmeetings_v1.xml").read_bytes())
    for mid in ("6001", "6002", "6010", "6011"):
        state.details[mid] = (SYNC / f"getmeeting_{mid}.xml").read_bytes()
    state.details["5030"] = fixture_bytes("getmeeting.xml")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's spelling)
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            state.requests.append((parts.path, query))
            ctype, body = "text/xml; charset=utf-8", b""
            if parts.path == "/mgWebService.asmx/GetMeetings":
                body = state.listing
            elif parts.path == "/mgWebService.asmx/GetMeeting":
                body = state.details.get(query.get("lMeetingId", [""])[0], b"")
            elif parts.path == "/calendar.ics":
                ctype, body = "text/calendar", fixture_bytes("calendar.ics")
            key = query.get("lMeetingId", [parts.path])[0]
            status = state.status.get(key, state.status.get(parts.path, 200 if body else 404))
            if status >= 400 and not body:
                ctype, body = "text/plain", b"System.Exception: no such meeting"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def env_for(tmp_path: Path, fake: FakeModernGov, extra: str = "") -> Env:
    return make_env(tmp_path, f'[meetings]\nmoderngov_url = "{fake.base_url}"\n'
                              f'chamber_rooms = ["Council Chamber"]\ntimeout_seconds = 5\n{extra}')


@pytest.fixture
def env(tmp_path: Path, fake: FakeModernGov) -> Iterator[Env]:
    e = env_for(tmp_path, fake)
    yield e
    e.db.dispose()


def run_sync(env: Env) -> dict[str, int]:
    with env.db.session() as s:
        return sync(s, settings=env.settings, actor="sync", now=NOW).counts


def test_window_covers_whole_london_days(env: Env) -> None:
    first, last, (lo, hi) = sync_window(env.settings, NOW)
    assert (first.isoformat(), last.isoformat()) == ("2024-03-08", "2024-06-13")
    assert lo == utc(2024, 3, 8, 0)  # GMT
    assert hi == utc(2024, 6, 13, 23)  # midnight BST at the end of 13 June


def test_sync_imports_the_window_with_rooms_from_getmeeting(
    env: Env, fake: FakeModernGov
) -> None:
    counts = run_sync(env)
    assert counts["created"] == 6  # 5999 (before) and 6099 (after the window) left out
    assert env.meeting("5999") is None and env.meeting("6099") is None

    [(path, query)] = [r for r in fake.requests if r[0].endswith("/GetMeetings")]
    assert query == {"lCommitteeId": ["-1"], "sFromDate": ["08/03/2024"],
                     "sToDate": ["13/06/2024"]}
    # GetMeeting only for meetings that can restrict: in scope and not cancelled.
    assert sorted(fake.detail_ids()) == ["6001", "6002", "6010", "6011"]

    council = env.meeting("6001")
    assert council is not None
    assert (council.start, council.end) == (utc(2024, 3, 20, 19), utc(2024, 3, 20, 22))
    assert council.room == "chamber" and council.location is not None
    cabinet = env.meeting("6010")
    assert cabinet is not None and cabinet.room == "Committee Room 1"  # not this gate's
    cab_apr = env.meeting("6011")  # room empty, location names the chamber
    assert cab_apr is not None and cab_apr.room == "chamber"
    licensing = env.meeting("6040")
    assert licensing is not None and licensing.in_scope is False
    cancelled = env.meeting("6012")
    assert cancelled is not None and cancelled.status == "cancelled"

    add_member_device(env.db)
    assert restricted(env, utc(2024, 3, 20, 20))  # Council in the chamber
    assert not restricted(env, utc(2024, 3, 26, 19))  # Cabinet in Committee Room 1


def test_sync_removes_what_disappeared(env: Env, fake: FakeModernGov) -> None:
    run_sync(env)
    gone_with_events, gone_without = env.meeting("6011"), env.meeting("6002")
    assert gone_with_events is not None and gone_without is not None
    with env.db.session() as s:
        s.add(Event(ts=utc(2024, 4, 23, 18, 40), kind="attempt", action="refuse",
                    meeting_id=gone_with_events.id, domain="tiktok.com", platform="tiktok"))
    rev = env.revision()

    fake.listing = (SYNC / "getmeetings_v2.xml").read_bytes()
    fake.details["6010"] = (SYNC / "getmeeting_6010_v2.xml").read_bytes()
    counts = run_sync(env)
    assert counts == {"created": 0, "updated": 1, "cancelled": 0, "unchanged": 3,
                      "removed": 1, "deleted": 1}
    assert env.revision() == rev + 1

    kept = env.meeting("6011")
    assert kept is not None and kept.removed_at is not None  # its events still point at it
    assert env.meeting("6002") is None
    moved = env.meeting("6010")
    assert moved is not None and moved.start == utc(2024, 3, 26, 19)

    with env.db.session() as s:
        policy = load_policy(s, env.settings, utc(2024, 4, 23, 18))
        actions = [a.action for a in s.execute(select(AuditRow).order_by(AuditRow.id))
                   .scalars()][-3:]
    clock = next(m for m in policy.meetings if m.meeting_id == kept.id)
    assert clock.cancelled
    assert sorted(actions) == ["import-delete", "import-remove", "import-update"]

    # The same answer again: nothing at all changes.
    before = dump(env.db)
    assert run_sync(env)["unchanged"] == 4
    assert dump(env.db) == before


def test_meetings_outside_the_window_are_never_removed(env: Env, fake: FakeModernGov) -> None:
    env.file("getmeetings.xml")  # 2019 … October 2024, imported from a file earlier
    fake.listing = (SYNC / "getmeetings_v2.xml").read_bytes()
    fake.details["6010"] = (SYNC / "getmeeting_6010_v2.xml").read_bytes()
    counts = run_sync(env)
    # In the window and missing now: 5010, 5020, 5001, 5011 (no history → deleted).
    assert counts["deleted"] == 4 and counts["removed"] == 0
    for sid in ("4001", "5030", "5040", "5002", "5003"):
        assert env.meeting(sid) is not None, sid


def test_a_failing_getmeeting_abandons_the_whole_sync(env: Env, fake: FakeModernGov) -> None:
    run_sync(env)
    before = dump(env.db)
    fake.listing = (SYNC / "getmeetings_v2.xml").read_bytes()
    fake.status["6010"] = 500
    with pytest.raises(SourceError, match="GetMeeting.*HTTP 500"):
        run_sync(env)
    assert dump(env.db) == before


def test_an_html_error_page_is_refused(env: Env, fake: FakeModernGov) -> None:
    fake.listing = fixture_bytes("bad/error403.html")
    fake.status["/mgWebService.asmx/GetMeetings"] = 403
    with pytest.raises(SourceError, match=r"HTML.*403"):
        run_sync(env)
    assert env.counts() == (0, 0, 1)


def test_sync_from_an_ical_feed(tmp_path: Path, fake: FakeModernGov) -> None:
    env = make_env(tmp_path, f'[meetings]\nical_url = "{fake.base_url}/calendar.ics"\n'
                             "sync_days_before = 1\nsync_days_after = 20\n")
    counts = run_sync(env)  # window 14/03 - 04/04/2024
    assert counts["created"] == 6
    assert env.meeting("council-20240320@exampleton.gov.uk", source="ical") is not None
    assert env.meeting("cabinet-20240416@exampleton.gov.uk", source="ical") is None
    assert run_sync(env)["unchanged"] == 6
    env.db.dispose()


def test_no_source_configured_is_a_clear_error(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    with pytest.raises(Invalid, match="moderngov_url"):
        run_sync(env)
    env.db.dispose()


def test_periodic_sync_records_failures_and_keeps_going(
    tmp_path: Path, fake: FakeModernGov
) -> None:
    env = env_for(tmp_path, fake)
    fake.status["/mgWebService.asmx/GetMeetings"] = 500

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_periodic_sync(env.settings, env.db, stop))
        for _ in range(200):
            if env.audit("sync-failed"):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, timeout=10)  # returns promptly, never raises

    asyncio.run(scenario())
    [failed] = env.audit("sync-failed")
    assert failed.actor == "sync" and "HTTP 500" in (failed.after or {})["error"]
    env.db.dispose()


def test_periodic_sync_runs_at_once_and_stops(tmp_path: Path, fake: FakeModernGov) -> None:
    env = env_for(tmp_path, fake)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_periodic_sync(env.settings, env.db, stop))
        for _ in range(200):
            if any(p.endswith("/GetMeetings") for p, _ in fake.requests):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    asyncio.run(scenario())
    assert [p for p, _ in fake.requests if p.endswith("/GetMeetings")]
    assert env.audit("sync-failed") == []
    env.db.dispose()


def test_periodic_sync_is_off_without_a_source(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    asyncio.run(asyncio.wait_for(run_periodic_sync(env.settings, env.db, asyncio.Event()), 5))
    env.db.dispose()
