"""Importing meetings into the database (api.meetings.sync): upsert, idempotency, removal,
scope overrides, rooms, and what the policy makes of the result."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api.errors import Invalid, NotFound
from api.meetings.sources import detect, parse_document
from api.meetings.sources.model import SourceMeeting, london_day
from api.meetings.sync import (
    Coverage,
    ImportResult,
    import_meetings,
    list_committees,
    room_for,
    set_committee_scope,
    stored_source_id,
)
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import AuditRow, ClerkActionRow, Device, Event, Meeting, Member, Site
from monitor.store.policy_loader import load_policy
from monitor.store.revision import current_revision, ensure_site
from tests import factories
from tests.meetings.conftest import FIXTURES, fixture_bytes, utc

MAC = "02:00:00:00:00:01"


# ---------------------------------------------------------------------------- helpers


@dataclass
class Env:
    settings: Settings
    db: Database
    config: Path

    def run(self, meetings: list[SourceMeeting], label: str = "test",
            coverage: Coverage | None = None, settings: Settings | None = None) -> ImportResult:
        with self.db.session() as s:
            return import_meetings(s, meetings=meetings, settings=settings or self.settings,
                                   actor="tester", source_label=label, coverage=coverage)

    def file(self, name: str) -> ImportResult:
        return self.run(detect.load(str(FIXTURES / name)), label=name)

    def meeting(self, source_id: str, source: str = "moderngov") -> Meeting | None:
        with self.db.session() as s:
            q = select(Meeting).where(Meeting.source == source, Meeting.source_id == source_id)
            return s.execute(q).scalar_one_or_none()

    def revision(self) -> int:
        with self.db.session() as s:
            return current_revision(s)

    def audit(self, action: str | None = None) -> list[AuditRow]:
        with self.db.session() as s:
            q = select(AuditRow).order_by(AuditRow.id)
            if action is not None:
                q = q.where(AuditRow.action == action)
            return list(s.execute(q).scalars())

    def counts(self) -> tuple[int, int, int]:
        with self.db.session() as s:
            return (s.execute(select(func.count()).select_from(Meeting)).scalar_one(),
                    s.execute(select(func.count()).select_from(AuditRow)).scalar_one(),
                    current_revision(s))


def make_env(tmp_path: Path, extra: str = "") -> Env:
    tmp_path.mkdir(parents=True, exist_ok=True)
    settings = factories.settings(tmp_path, extra, site='room = "chamber"\n')
    cfg = tmp_path / "chamberguard.toml"
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    with db.session() as s:
        ensure_site(s)  # so that "bumped once" reads as revision + 1
    return Env(settings, db, cfg)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path)
    yield e
    e.db.dispose()


def dump(db: Database) -> dict[str, Any]:
    """Everything an import may touch, in comparable form."""
    with db.session() as s:
        meetings = [
            tuple(getattr(m, c.name) for c in Meeting.__table__.columns)
            for m in s.execute(select(Meeting).order_by(Meeting.id)).scalars()
        ]
        audit = [
            (a.id, a.ts, a.actor, a.action, a.entity, a.entity_id, a.before, a.after)
            for a in s.execute(select(AuditRow).order_by(AuditRow.id)).scalars()
        ]
        site = s.get(Site, 1)
        return {"meetings": meetings, "audit": audit,
                "site": (site.revision, site.updated_at) if site else None}


def add_member_device(db: Database) -> None:
    with db.session() as s:
        member = Member(name="Cllr Example")
        s.add(member)
        s.flush()
        s.add(Device(mac=MAC, label="phone", member_id=member.id))


def restricted(env: Env, at: datetime) -> bool:
    with env.db.session() as s:
        policy = load_policy(s, env.settings, at)
    return policy.restriction(MAC, at).restricted


def cancelled_copy(tmp_path: Path, meeting_id: str) -> Path:
    """getmeetings.xml with one meeting's status changed to Cancelled."""
    text = fixture_bytes("getmeetings.xml").decode()
    marker = f"<meetingid>{meeting_id}</meetingid>"
    head, tail = text.split(marker)
    assert "<meetingstatus>Confirmed</meetingstatus>" in tail.split("</meeting>")[0]
    tail = tail.replace("<meetingstatus>Confirmed", "<meetingstatus>Cancelled", 1)
    out = tmp_path / "getmeetings_cancelled.xml"
    out.write_text(head + marker + tail, encoding="utf-8")
    return out


def sm(source_id: str, start: datetime, **kw: Any) -> SourceMeeting:
    fields: dict[str, Any] = {
        "source": "moderngov", "source_id": source_id, "committee_id": "126",
        "committee_title": "Council", "title": "Council", "start": start,
        "end": start + timedelta(hours=3), "status": "confirmed",
    }
    fields.update(kw)
    return SourceMeeting(**fields)


# ---------------------------------------------------------------------------- import


def test_import_getmeetings_creates_rows(env: Env) -> None:
    rev = env.revision()
    result = env.file("getmeetings.xml")
    assert result.counts == {"created": 9, "updated": 0, "cancelled": 0, "unchanged": 0,
                             "removed": 0, "deleted": 0}
    assert result.revision_bumped and env.revision() == rev + 1

    expected = {
        # id: (start UTC, status, in scope, committee)
        "5010": (utc(2024, 3, 12, 19, 30), "confirmed", True, "Cabinet"),
        "5011": (utc(2024, 4, 9, 18, 30), "cancelled", True, "Cabinet"),  # 7.30 pm BST
        "5020": (utc(2024, 3, 14, 12, 0), "confirmed", True, "Overview & Scrutiny Committee"),
        "5030": (utc(2024, 6, 19, 17, 0), "confirmed", True, "Strategic Planning Committee"),
        "5040": (utc(2024, 7, 1, 9, 0), "confirmed", False, "Licensing Sub-Committee"),
        "4001": (utc(2019, 1, 15, 19, 30), "confirmed", True, "Cabinet"),
    }
    for sid, (start, status, scope, committee) in expected.items():
        row = env.meeting(sid)
        assert row is not None, sid
        assert (row.start, row.status, row.in_scope, row.committee_title) == (
            start, status, scope, committee), sid
        assert row.end == start + timedelta(hours=3)
        assert row.room == "chamber" and row.removed_at is None
    row5010 = env.meeting("5010")
    assert row5010 is not None and row5010.committee_id == "130" and row5010.webcast is True
    audit = env.audit("import-create")
    assert len(audit) == 9 and {a.actor for a in audit} == {"tester"}
    assert audit[0].after is not None and audit[0].after["via"] == "getmeetings.xml"


def test_meeting_on_dst_change_days_has_right_utc_times(env: Env) -> None:
    env.file("getmeetings.xml")
    spring, autumn_midnight, autumn_morning = (
        env.meeting("5001"), env.meeting("5003"), env.meeting("5002"))
    assert spring is not None and autumn_midnight is not None and autumn_morning is not None
    # 31 March 2024, clocks go forward at 01:00 UTC: 10.00 am is BST.
    assert spring.start == utc(2024, 3, 31, 9, 0)
    assert spring.end == utc(2024, 3, 31, 12, 0)
    # 27 October 2024, clocks go back at 01:00 UTC: midnight is still BST, 10.00 am is GMT.
    assert autumn_midnight.start == utc(2024, 10, 26, 23, 0)
    assert autumn_morning.start == utc(2024, 10, 27, 10, 0)
    # ...and the London day of an all-day calendar meeting on the spring change is 23 hours.
    env.file("calendar.ics")
    budget = env.meeting("budget-day-20240331@exampleton.gov.uk", source="ical")
    assert budget is not None
    assert (budget.start, budget.end) == (utc(2024, 3, 31, 0, 0), utc(2024, 3, 31, 23, 0))


def test_reimporting_the_same_document_changes_nothing(env: Env) -> None:
    env.file("getmeetings.xml")
    before = dump(env.db)
    for _ in range(2):
        result = env.file("getmeetings.xml")
        assert result.counts["unchanged"] == 9 and not result.changed
        assert not result.revision_bumped
    assert dump(env.db) == before


def test_cancellation_updates_the_meeting_and_the_policy(env: Env, tmp_path: Path) -> None:
    env.file("getmeetings.xml")
    add_member_device(env.db)
    during = utc(2024, 3, 12, 20, 0)  # Cabinet 5010, 7.30 pm GMT
    assert restricted(env, during)
    rev, n_audit = env.revision(), len(env.audit())

    path = cancelled_copy(tmp_path, "5010")
    result = env.run(detect.load(str(path)), label=path.name)
    assert result.counts["cancelled"] == 1 and result.counts["unchanged"] == 8
    change = next(m for m in result.meetings if m.source_id == "5010")
    assert change.changed == ("status",)
    assert env.revision() == rev + 1
    new_audit = env.audit()[n_audit:]
    assert [(a.action, a.before, {k: v for k, v in (a.after or {}).items() if k != "via"})
            for a in new_audit] == [
        ("import-update", {"status": "confirmed"}, {"status": "cancelled"})]

    row = env.meeting("5010")
    assert row is not None and row.status == "cancelled"
    with env.db.session() as s:
        policy = load_policy(s, env.settings, during)
    clock = next(m for m in policy.meetings if m.meeting_id == row.id)
    assert clock.cancelled is True
    assert policy.restriction(MAC, during).restricted is False

    # Un-cancelling (the next document) restores enforcement.
    env.file("getmeetings.xml")
    assert restricted(env, during)


def test_time_change_is_an_update_not_a_duplicate(env: Env) -> None:
    env.run([sm("7001", utc(2024, 5, 1, 18))])
    result = env.run([sm("7001", utc(2024, 5, 1, 18, 30), title="Council (rescheduled)",
                         location="Council Chamber")])
    assert result.counts["updated"] == 1
    assert result.meetings[0].changed == ("title", "start", "end", "location")
    with env.db.session() as s:
        assert s.execute(select(func.count()).select_from(Meeting)).scalar_one() == 1
    row = env.meeting("7001")
    assert row is not None and row.start == utc(2024, 5, 1, 18, 30)


def test_a_meeting_listed_twice_differently_is_refused(env: Env) -> None:
    with pytest.raises(Invalid, match="listed twice"):
        env.run([sm("7001", utc(2024, 5, 1, 18)), sm("7001", utc(2024, 5, 2, 18))])
    assert env.counts() == (0, 0, 1)


def test_database_error_rolls_back_the_whole_import(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.file("getmeetings.xml")
    before = dump(env.db)

    def broken(*_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("api.meetings.sync.bump_revision", broken)
    meetings = detect.load(str(FIXTURES / "calendar.ics"))
    with pytest.raises(RuntimeError, match="disk full"):
        env.run(meetings)
    assert dump(env.db) == before


def test_long_source_ids_fit_the_column(env: Env) -> None:
    uid = "x" * 500 + "@example.gov.uk"
    stored = stored_source_id(uid)
    assert len(stored) == 200 and stored != stored_source_id(uid + "2")
    m = replace(sm("1", utc(2024, 5, 1, 18)), source="ical", source_id=uid, committee_id=None)
    env.run([m])
    assert env.run([m]).counts["unchanged"] == 1
    assert env.meeting(stored, source="ical") is not None


# ---------------------------------------------------------------------------- removal


def covered(lo: datetime, hi: datetime) -> Coverage:
    return Coverage("moderngov", (lo, hi))


def test_removal_marks_meetings_with_history_and_deletes_the_rest(env: Env) -> None:
    a, b, c, d = (sm(str(i), utc(2024, 5, i, 18)) for i in (1, 2, 3, 4))
    outside = sm("99", utc(2024, 7, 1, 18))
    env.run([a, b, c, d, outside])
    ids = {sid: env.meeting(sid).id for sid in "1234"}  # type: ignore[union-attr]
    with env.db.session() as s:
        s.add(Event(ts=utc(2024, 5, 2, 18, 5), kind="attempt", action="refuse",
                    meeting_id=ids["2"], domain="instagram.com", platform="instagram"))
        s.add(ClerkActionRow(meeting_id=ids["3"], action="start", at=utc(2024, 5, 3, 18)))
    rev = env.revision()

    window = covered(utc(2024, 5, 1), utc(2024, 6, 1))
    result = env.run([a], coverage=window)  # b (events), c (clerk), d (nothing) are gone
    assert result.counts == {"created": 0, "updated": 0, "cancelled": 0, "unchanged": 1,
                             "removed": 2, "deleted": 1}
    assert env.revision() == rev + 1
    for sid in ("2", "3"):
        row = env.meeting(sid)
        assert row is not None and row.removed_at is not None
    assert env.meeting("4") is None
    assert env.meeting("99") is not None  # outside the window: not judged
    assert [a.action for a in env.audit()[-3:]] == ["import-remove", "import-remove",
                                                    "import-delete"]
    # A removed meeting never restricts (policy_loader reads removed_at as cancelled) ...
    add_member_device(env.db)
    assert not restricted(env, utc(2024, 5, 2, 19))
    # ... nor is it removed again; and it comes back if the source lists it again.
    assert not env.run([a], coverage=window).changed
    back = env.run([a, b], coverage=window)
    assert back.counts["updated"] == 1 and back.meetings[1].changed == ("removed_at",)
    assert restricted(env, utc(2024, 5, 2, 19))


def test_import_without_coverage_never_removes(env: Env) -> None:
    env.file("getmeetings.xml")
    result = env.run([sm("5010", utc(2024, 3, 12, 19, 30), committee_id="130",
                         committee_title="Cabinet", title="Cabinet", webcast=True,
                         end_estimated=True)])  # GetMeetings gives no end: 3 h assumed
    assert result.counts == {"created": 0, "updated": 0, "cancelled": 0, "unchanged": 1,
                             "removed": 0, "deleted": 0}
    with env.db.session() as s:
        assert s.execute(select(func.count()).select_from(Meeting)).scalar_one() == 9


def test_coverage_only_judges_its_own_source(env: Env) -> None:
    env.file("calendar.ics")
    with env.db.session() as s:
        s.add(Meeting(source="manual", title="Extra", committee_title="Extra",
                      start=utc(2024, 3, 20, 10), end=utc(2024, 3, 20, 12)))
    lo, hi = london_day(utc(2024, 3, 1).date(), days=60)
    result = env.run([], coverage=Coverage("moderngov", (lo, hi)))
    assert not result.changed
    with env.db.session() as s:
        assert s.execute(select(func.count()).select_from(Meeting)).scalar_one() == 11


# ---------------------------------------------------------------------------- scope


def test_committee_override_changes_existing_and_future_meetings(env: Env) -> None:
    env.file("getmeetings.xml")
    licensing = env.meeting("5040")
    assert licensing is not None and licensing.in_scope is False
    rev = env.revision()

    with env.db.session() as s:
        [info] = set_committee_scope(s, committee_title_or_id="licensing sub-committee",
                                     in_scope=True, actor="it-officer", settings=env.settings)
    assert info.in_scope and info.override is True and not info.default_in_scope
    licensing = env.meeting("5040")
    assert licensing is not None and licensing.in_scope is True
    assert env.revision() == rev + 1
    [row] = env.audit("set-scope")
    assert row.actor == "it-officer" and row.after == {"override": True,
                                                       "meetings_changed": [licensing.id]}

    # The same choice again changes nothing.
    with env.db.session() as s:
        set_committee_scope(s, committee_title_or_id="Licensing Sub-Committee", in_scope=True,
                            actor="it-officer", settings=env.settings)
    assert env.revision() == rev + 1 and len(env.audit("set-scope")) == 1

    # A future meeting of the committee (and a re-import of the old one) follows the override.
    future = sm("7040", utc(2024, 9, 2, 9), committee_id="160",
                committee_title="Licensing Sub-Committee", title="Licensing Sub-Committee")
    result = env.run([future])
    assert result.meetings[0].in_scope is True
    assert env.file("getmeetings.xml").counts["unchanged"] == 9

    # By modern.gov id: Cabinet out; its meeting no longer restricts.
    add_member_device(env.db)
    assert restricted(env, utc(2024, 3, 12, 20))
    with env.db.session() as s:
        set_committee_scope(s, committee_title_or_id="130", in_scope=False, actor="it-officer",
                            settings=env.settings)
    assert not restricted(env, utc(2024, 3, 12, 20))
    assert env.file("getmeetings.xml").counts["unchanged"] == 9

    # Back to the rules.
    with env.db.session() as s:
        set_committee_scope(s, committee_title_or_id="Cabinet", in_scope=None,
                            actor="it-officer", settings=env.settings)
    assert restricted(env, utc(2024, 3, 12, 20))
    with env.db.session() as s:
        by_key = {c.key: c for c in list_committees(s, settings=env.settings)}
    assert by_key["cabinet"].override is None and by_key["cabinet"].in_scope
    assert by_key["cabinet"].committee_ids == ("130",) and by_key["cabinet"].meetings == 3
    assert by_key["licensing sub committee"].override is True
    assert by_key["licensing sub committee"].rule is None


def test_unknown_committee_is_not_silently_accepted(env: Env) -> None:
    env.file("getmeetings.xml")
    before = dump(env.db)
    with env.db.session() as s, pytest.raises(NotFound, match="Licencing"):
        set_committee_scope(s, committee_title_or_id="Licencing Committee", in_scope=True,
                            actor="it")
    assert dump(env.db) == before


def test_configured_patterns_replace_the_default_scope(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[meetings]\ncommittee_patterns = ["licensing"]\n')
    env.file("getmeetings.xml")
    scoped = {sid: env.meeting(sid).in_scope for sid in ("5010", "5040")}  # type: ignore[union-attr]
    assert scoped == {"5010": False, "5040": True}
    env.db.dispose()


def test_bad_configured_pattern_is_a_clear_error(tmp_path: Path) -> None:
    env = make_env(tmp_path, '[meetings]\ncommittee_patterns = ["(unclosed"]\n')
    with pytest.raises(Invalid, match="committee_patterns.*unclosed"):
        env.file("getmeetings.xml")
    assert env.counts() == (0, 0, 1)
    env.db.dispose()


# ---------------------------------------------------------------------------- rooms


def test_room_is_this_gate_unless_chamber_rooms_say_otherwise(tmp_path: Path) -> None:
    plain = make_env(tmp_path / "a")
    rooms = make_env(tmp_path / "b", '[meetings]\nchamber_rooms = ["Council Chamber"]\n')
    start = utc(2024, 5, 1, 18)
    assert room_for(sm("1", start, room="Committee Room 2"), plain.settings) == "chamber"
    assert room_for(sm("1", start, room="council chamber"), rooms.settings) == "chamber"
    assert room_for(sm("1", start, location="The Council Chamber, Town Hall"),
                    rooms.settings) == "chamber"
    assert room_for(sm("1", start), rooms.settings) == "chamber"  # nothing stated
    assert room_for(sm("1", start, room="Committee Room 2", location="Town Hall"),
                    rooms.settings) == "Committee Room 2"

    # A meeting elsewhere never restricts this gate.
    rooms.run([sm("1", start, room="Committee Room 2"), sm("2", start + timedelta(days=1))])
    add_member_device(rooms.db)
    assert not restricted(rooms, start + timedelta(hours=1))
    assert restricted(rooms, start + timedelta(days=1, hours=1))
    plain.db.dispose()
    rooms.db.dispose()


def test_parsed_documents_import_like_files(env: Env) -> None:
    meetings = parse_document(fixture_bytes("getmeeting.xml"))
    env.run(meetings)
    row = env.meeting("5030")
    assert row is not None
    assert row.location == "Council Chamber, Town Hall, High Street, Exampleton EX1 1AA"
    assert (row.start, row.end) == (utc(2024, 6, 19, 17), utc(2024, 6, 19, 20, 30))


def test_an_import_without_an_end_is_flagged_for_it(env: Env) -> None:
    """The source gave no end: the 3 hours assumed are flagged (end_guessed), not silent."""
    env.run([sm("7001", utc(2024, 3, 14, 19), end_estimated=True),
             sm("7002", utc(2024, 3, 15, 19))])
    with env.db.session() as s:
        flags = dict(s.execute(select(Meeting.source_id, Meeting.end_guessed)
                               .where(Meeting.source_id.in_(("7001", "7002")))).all())
    assert flags == {"7001": True, "7002": False}
