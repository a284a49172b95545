"""Privacy levels change what is STORED: each test writes events through the real write path
(the gate's EventWriter, or store_now) and reads the rows back from the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from api.reports import service
from dashboard.reports import render
from monitor.events import EventAction, EventKind, EventRecord, EventWriter, store_now
from monitor.evidence import chain
from monitor.evidence.collapse import runs
from monitor.evidence.levels import AUDIT_ACTION, sync_level
from monitor.evidence.privacy import PrivacyLevel, privacy_level_for_meeting
from monitor.evidence.retention import purge, retention_status
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import (
    AuditRow,
    ChainGap,
    Event,
    Meeting,
    MeetingPrivacy,
    MeetingTotal,
    PurgeRun,
)
from tests.reports.seed import make_settings, seed_golden

T0 = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)


def settings_at(tmp: Path, level: str, url: str) -> Settings:
    s = make_settings(tmp, f'[privacy]\nlevel = "{level}"\n[database]\nurl = "{url}"\n')
    assert s.database_url == url
    return s


def meeting(db: Database, title: str, start: datetime, hours: float = 2) -> int:
    with db.session() as s:
        m = Meeting(title=title, start=start, end=start + timedelta(hours=hours), room="chamber")
        s.add(m)
        s.flush()
        return m.id


def attempts(meeting_id: int | None, n: int, t: datetime, member: int = 1) -> list[EventRecord]:
    return [EventRecord(t + timedelta(seconds=i), EventKind.ATTEMPT, EventAction.REFUSED,
                        room="chamber", mac="02:00:5e:10:00:01", device_id=1, member_id=member,
                        meeting_id=meeting_id, domain="i.instagram.com", platform="instagram",
                        category="platform", channels="dns", rule="instagram.com (catalogue)")
            for i in range(n)]


def through_writer(db: Database, recs: list[EventRecord], spool: Path) -> None:
    """The gate's own path: submit → spool → sink."""
    w = EventWriter(db, room="chamber", spool_dir=spool)
    w.start()
    try:
        for r in recs:
            assert w.submit(r)
        assert w.flush(10)
    finally:
        w.stop()


def rows(db: Database) -> list[dict[str, object]]:
    with db.engine.connect() as c:
        return [dict(r) for r in c.execute(select(Event.__table__).order_by(Event.id))
                .mappings()]


@pytest.mark.parametrize("level", list(PrivacyLevel))
def test_each_level_stores_what_it_says(level: PrivacyLevel, db: Database, tmp_path: Path
                                        ) -> None:
    settings = settings_at(tmp_path, level.value, db.url)
    sync_level(db, settings)
    m = meeting(db, "Council", datetime.now(UTC) - timedelta(minutes=30))
    outage = EventRecord(T0, EventKind.OUTAGE, EventAction.OBSERVED, room="chamber",
                         detail="gate was down")
    through_writer(db, attempts(m, 5, T0) + [outage], tmp_path / "spool")
    stored = rows(db)
    assert len(stored) == 6
    mine = [r for r in stored if r["meeting_id"] == m]
    assert len(mine) == 5
    # What every level keeps: device, member, platform, time.
    assert all(r["platform"] == "instagram" and r["member_id"] == 1 and r["device_id"] == 1
               and r["ts"] is not None for r in mine)
    if level is PrivacyLevel.FULL:
        assert {r["domain"] for r in mine} == {"i.instagram.com"}
        assert {r["rule"] for r in mine} == {"instagram.com (catalogue)"}
    else:
        assert {r["domain"] for r in mine} == {None} and {r["rule"] for r in mine} == {None}
        with db.engine.connect() as c:  # nowhere else in the table either
            n = c.execute(text("SELECT count(*) FROM events WHERE domain LIKE '%instagram%' "
                               "OR rule LIKE '%instagram%'")).scalar()
        assert n == 0
    with db.engine.connect() as c:
        assert privacy_level_for_meeting(c, m) is level
        rep = chain.verify_chain(c)
    assert rep.ok and rep.checked == 6, rep.problem


def test_switching_is_audited_and_applies_from_the_next_meeting(db: Database,
                                                                 tmp_path: Path) -> None:
    now = datetime.now(UTC)
    sync_level(db, settings_at(tmp_path, "full", db.url), now=now)
    running = meeting(db, "Council (in session)", now - timedelta(minutes=20))
    later = meeting(db, "Cabinet (tomorrow)", now + timedelta(days=1))
    change = sync_level(db, settings_at(tmp_path, "platform", db.url), actor="config file x",
                        now=now)
    assert change.changed and change.meetings_kept == 1
    again = sync_level(db, settings_at(tmp_path, "platform", db.url), now=now)
    assert not again.changed  # a restart with the same file changes nothing
    with db.session() as s:
        audits = s.execute(select(AuditRow).where(AuditRow.action == AUDIT_ACTION)
                           .order_by(AuditRow.id)).scalars().all()
        # The first sync of "full" is no change (an unsynced database stores "full").
        assert [(a.before, a.after["privacy_level"]) for a in audits] == [
            ({"privacy_level": "full"}, "platform")]
        assert audits[-1].actor == "config file x"
        assert audits[-1].after["meetings_keeping_previous_level"] == 1
    store_now(db, attempts(running, 2, now) + attempts(later, 2, now + timedelta(days=1)))
    by_meeting = {(r["meeting_id"], r["domain"]) for r in rows(db)}
    assert by_meeting == {(running, "i.instagram.com"), (later, None)}
    with db.engine.connect() as c:
        assert privacy_level_for_meeting(c, running) is PrivacyLevel.FULL
        assert privacy_level_for_meeting(c, later) is PrivacyLevel.PLATFORM
        assert privacy_level_for_meeting(c, None) is PrivacyLevel.PLATFORM


def test_counts_keeps_only_totals_once_the_report_is_signed(tmp_path: Path) -> None:
    # The golden meeting (tests/reports/seed.py), recorded under "counts".
    settings = make_settings(tmp_path, '[privacy]\nlevel = "counts"\n')
    from monitor.store.migrate import upgrade

    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        sync_level(db, settings)
        g = seed_golden(tmp_path, extra='[privacy]\nlevel = "counts"\n')
        mid = g.ids["meeting"]
        later = attempts(g.ids["other"], 3, T0 + timedelta(days=7, minutes=30), g.ids["ada"])
        store_now(db, later)  # the next meeting's events: not yet reported, must stay
        before = rows(db)
        mine = [r for r in before if r["meeting_id"] == mid]
        assert mine and all(r["domain"] is None for r in mine)  # counts stores as platform
        expect: dict[tuple[object, ...], int] = {}
        for r in mine:
            k = (r["member_id"], r["kind"], r["action"], r["platform"])
            expect[k] = expect.get(k, 0) + 1
        _, data = service.report_file(db=db, settings=settings, kind="meeting", fmt="html",
                                      actor="officer", render=render.body,
                                      meeting_id=mid)
        after = rows(db)
        assert [r for r in after if r["meeting_id"] == mid] == []
        assert len(after) == len(before) - len(mine)
        others = sum(1 for r in before if r["meeting_id"] == g.ids["other"])
        assert others >= 3 and sum(1 for r in after if r["meeting_id"] == g.ids["other"]) \
            == others
        with db.session() as s:
            totals = {(t.member_id, t.kind, t.action, t.platform): t.events for t in
                      s.execute(select(MeetingTotal).where(MeetingTotal.meeting_id == mid))
                      .scalars()}
            mp = s.get(MeetingPrivacy, mid)
            assert mp is not None and mp.collapsed_events == len(mine)
            assert s.execute(select(func.count()).select_from(ChainGap)).scalar() >= 1
        assert totals == expect
        rep = service.verify_events(db=db)
        assert rep.ok, rep.problem
        assert rep.collapsed == len(mine) and rep.checked == len(after)
        v = service.verify_file(data=data, settings=settings, db=db)
        assert v.ok and any("removed under the counts privacy level" in d for d in v.details)
        # The gaps bridge exactly the removed runs: deleting any other event still shows.
        victim = next(r["id"] for r in after if r["meeting_id"] == g.ids["other"])
        with db.engine.begin() as c:
            c.execute(text("DELETE FROM events WHERE id = :i"), {"i": victim})
        bad = service.verify_events(db=db)
        assert not bad.ok and bad.problem is not None
    finally:
        db.dispose()


def test_a_report_made_during_the_meeting_does_not_collapse_it(db: Database,
                                                               tmp_path: Path) -> None:
    settings = settings_at(tmp_path, "counts", db.url)
    sync_level(db, settings)
    m = meeting(db, "Council", datetime.now(UTC) - timedelta(minutes=10))
    store_now(db, attempts(m, 3, datetime.now(UTC)))
    service.report_file(db=db, settings=settings, kind="meeting", fmt="json", actor="clerk",
                        meeting_id=m)
    assert len(rows(db)) == 3  # still in session: the report is partial, the events stay


def test_every_purge_run_is_recorded_and_the_next_is_due_a_day_later(db: Database,
                                                                     tmp_path: Path) -> None:
    settings = settings_at(tmp_path, "full", db.url)
    store_now(db, attempts(None, 2, datetime.now(UTC) - timedelta(days=400)))
    first = purge(db, settings, actor="test")
    second = purge(db, settings, actor="test")
    assert first.events_deleted == 2 and second.events_deleted == 0
    with db.session() as s:
        got = [(r.events_deleted, r.ok, r.purge_id is not None) for r in
               s.execute(select(PurgeRun).order_by(PurgeRun.id)).scalars()]
    assert got == [(2, True, True), (0, True, False)]
    with db.engine.connect() as c:
        st = retention_status(c, settings)
    assert st.last_run is not None and st.last_run.id == second.run_id
    assert st.next_purge == st.last_run.started_at + timedelta(days=1)
    assert st.events_held == 0 and st.oldest_event is None


def test_runs_are_maximal_and_skip_other_meetings() -> None:
    r = [(1, 7, "a", "h1"), (2, 7, "h1", "h2"), (3, 8, "h2", "h3"), (4, 7, "h3", "h4"),
         (5, None, "h4", "h5"), (6, 7, "h5", "h6")]
    got = runs(r, 7)
    assert [(x.first_id, x.last_id, x.events, x.prev_hash, x.last_hash) for x in got] == [
        (1, 2, 2, "a", "h2"), (4, 4, 1, "h3", "h4"), (6, 6, 1, "h5", "h6")]
