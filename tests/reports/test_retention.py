"""Retention: `purge` deletes exactly the expired rows, keeps the chain verifiable from the
retained start (the last purged hash becomes the anchor), and records what it did."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from api.reports import service
from dashboard.main.cli import main
from monitor.events import EventAction, EventKind, EventRecord, store_now
from monitor.evidence import chain
from monitor.evidence.retention import PurgeResult, purge, run_daily_purge
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import AuditRow, Device, Event, IssuedReport, PurgeRow
from tests.reports.seed import make_settings

NOW = datetime(2027, 6, 10, 12, 0, tzinfo=UTC)


def ev(ts: datetime, i: int) -> EventRecord:
    return EventRecord(ts, EventKind.ATTEMPT, EventAction.REFUSED, room="chamber",
                       mac="02:00:5e:10:00:01", device_id=1, member_id=1, meeting_id=1,
                       domain="i.instagram.com", platform="instagram", category="platform",
                       detail=f"n{i}")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    settings = make_settings(tmp_path, "[retention]\nevents_days = 30\nreports_years = 2\n")
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    yield settings, db
    db.dispose()


def _ids(db: Database) -> list[int]:
    with db.session() as s:
        return list(s.execute(select(Event.id).order_by(Event.id)).scalars())


def test_purge_removes_exactly_the_expired_rows(site: tuple[Settings, Database]) -> None:
    settings, db = site
    old = [ev(NOW - timedelta(days=40, minutes=-i), i) for i in range(5)]  # ids 1-5
    edge = [ev(NOW - timedelta(days=30, seconds=1), 5)]  # id 6: a second past the cut-off
    kept = [ev(NOW - timedelta(days=30) + timedelta(seconds=i), 6 + i) for i in range(4)]
    store_now(db, old + edge)
    store_now(db, kept)  # ids 7-10 (the first exactly at the cut-off: kept)
    with db.engine.connect() as c:
        hash6 = chain.event_hash(c, 6)
    res = purge(db, settings, now=NOW, actor="test")
    assert (res.events_deleted, res.first_event_id, res.last_event_id) == (6, 1, 6)
    assert _ids(db) == [7, 8, 9, 10]
    assert res.anchor_hash == hash6 and res.late_events_kept == 0
    rep = service.verify_events(db=db)
    assert rep.ok and rep.checked == 4 and rep.first_id == 7
    assert rep.anchor_hash == hash6 and rep.anchor_event_id == 6
    with db.session() as s:
        marker = s.execute(select(PurgeRow)).scalar_one()
        assert (marker.events_deleted, marker.last_event_id, marker.anchor_hash) == (6, 6, hash6)
        audit = s.execute(select(AuditRow).where(AuditRow.action == "purge")).scalar_one()
        assert audit.actor == "test" and audit.after is not None
        assert audit.after["events_deleted"] == 6 and audit.after["anchor_hash"] == hash6
    # New events keep extending the same chain; a second purge finds nothing to do and
    # leaves no record.
    store_now(db, [ev(NOW, 99)])
    again = purge(db, settings, now=NOW, actor="test")
    assert not again.anything and again.purge_id is None
    assert service.verify_events(db=db).ok
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(PurgeRow)).scalar() == 1


def test_after_a_purge_a_removed_first_event_is_still_caught(
        site: tuple[Settings, Database]) -> None:
    settings, db = site
    store_now(db, [ev(NOW - timedelta(days=60), 0), ev(NOW - timedelta(days=1), 1),
                   ev(NOW, 2)])
    purge(db, settings, now=NOW)
    with db.engine.begin() as c:
        c.execute(text("DELETE FROM events WHERE id = 2"))
    rep = service.verify_events(db=db)
    assert not rep.ok and rep.problem is not None and rep.problem.event_id == 3
    assert "anchor left by the last purge" in rep.problem.reason


def test_purging_everything_and_writing_again(site: tuple[Settings, Database]) -> None:
    settings, db = site
    store_now(db, [ev(NOW - timedelta(days=90, minutes=-i), i) for i in range(3)])
    res = purge(db, settings, now=NOW)
    assert res.events_deleted == 3 and _ids(db) == []
    assert service.verify_events(db=db).ok  # empty: the head is the anchor
    store_now(db, [ev(NOW, 10), ev(NOW, 11)])
    rep = service.verify_events(db=db)
    assert rep.ok and rep.checked == 2


def test_a_late_expired_event_waits_for_its_predecessors(
        site: tuple[Settings, Database]) -> None:
    """A spool replayed long after the fact: an old event written after recent ones stays
    until the events before it expire (deleting it would cut the chain); it is counted."""
    settings, db = site
    store_now(db, [ev(NOW - timedelta(days=50), 0)])  # id 1: expired
    store_now(db, [ev(NOW - timedelta(days=2), 1)])  # id 2: recent
    store_now(db, [ev(NOW - timedelta(days=45), 2)])  # id 3: expired, written late
    res = purge(db, settings, now=NOW)
    assert res.events_deleted == 1 and res.late_events_kept == 1 and _ids(db) == [2, 3]
    assert service.verify_events(db=db).ok
    res = purge(db, settings, now=NOW + timedelta(days=29))  # id 2 expires: 2 and 3 go
    assert res.events_deleted == 2 and _ids(db) == []


def test_batches_keep_the_chain_whole(site: tuple[Settings, Database]) -> None:
    settings, db = site
    store_now(db, [ev(NOW - timedelta(days=40, seconds=-i), i) for i in range(25)])
    store_now(db, [ev(NOW, 100)])
    res = purge(db, settings, now=NOW, batch=7)
    assert res.events_deleted == 25 and _ids(db) == [26]
    assert service.verify_events(db=db).ok
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(PurgeRow)).scalar() == 1


def test_reports_register_and_guest_devices_expire(site: tuple[Settings, Database]) -> None:
    settings, db = site
    with db.session() as s:
        for rid, when in (("old", NOW - timedelta(days=3 * 366)),
                          ("new", NOW - timedelta(days=300))):
            s.add(IssuedReport(id=rid, kind="meeting", subject="x", params={}, format="pdf",
                               generated_at=when, generated_by="t", sha256="0" * 64,
                               key_id="k"))
        s.add(Device(mac="da:a1:19:00:00:07", label="", created_at=NOW - timedelta(days=90),
                     last_seen=NOW - timedelta(days=80)))
        s.add(Device(mac="da:a1:19:00:00:08", label="", created_at=NOW - timedelta(days=90),
                     last_seen=NOW - timedelta(days=3)))
    res = purge(db, settings, now=NOW)
    assert (res.reports_deleted, res.devices_deleted, res.events_deleted) == (1, 1, 0)
    with db.session() as s:
        assert list(s.execute(select(IssuedReport.id)).scalars()) == ["new"]
        assert list(s.execute(select(Device.mac)).scalars()) == ["da:a1:19:00:00:08"]
        assert s.execute(select(PurgeRow)).scalar_one().reports_deleted == 1


def test_cli_purge(site: tuple[Settings, Database], capsys: pytest.CaptureFixture[str]) -> None:
    settings, db = site
    long_ago = datetime.now(UTC) - timedelta(days=400)
    store_now(db, [ev(long_ago, 0), ev(datetime.now(UTC), 1)])
    cfg = str(settings.site.data_dir / "chamberguard.toml")
    assert main(["--config", cfg, "purge", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["events_deleted"] == 1 and out["purge_id"] == 1
    assert main(["--config", cfg, "purge"]) == 0
    assert "0 deleted" in capsys.readouterr().out


def test_daily_purge_runs_and_stops(site: tuple[Settings, Database]) -> None:
    settings, db = site
    store_now(db, [ev(datetime.now(UTC) - timedelta(days=400), 0)])

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_daily_purge(settings, db, stop, first_delay=0.01,
                                                   interval=3600))
        for _ in range(200):
            await asyncio.sleep(0.02)
            if not _ids(db):
                break
        stop.set()
        await asyncio.wait_for(task, 2)

    asyncio.run(go())
    assert _ids(db) == []
    with db.session() as s:
        assert s.execute(select(PurgeRow)).scalar_one().actor == "daily-purge"


def test_the_daily_job_checkpoints_the_chain(site: tuple[Settings, Database]) -> None:
    """Daily: after the purge, a signed checkpoint ("purge" when events went, else "daily")
    is appended to the checkpoint file outside the database."""
    from api.reports.service import after_purge
    from monitor.evidence import checkpoint

    settings, db = site
    store_now(db, [ev(datetime.now(UTC) - timedelta(days=400), 0), ev(datetime.now(UTC), 1)])

    async def go() -> None:
        stop, done = asyncio.Event(), asyncio.Event()

        def after(res: PurgeResult) -> None:
            after_purge(db, settings, res)
            loop.call_soon_threadsafe(done.set)

        loop = asyncio.get_running_loop()
        task = asyncio.create_task(run_daily_purge(settings, db, stop, first_delay=0.01,
                                                   interval=3600, after=after))
        await asyncio.wait_for(done.wait(), 10)
        stop.set()
        await asyncio.wait_for(task, 2)

    asyncio.run(go())
    lines = checkpoint.path_of(settings.site.data_dir).read_text().splitlines()
    assert [json.loads(x)["reason"] for x in lines] == ["purge"]
    with db.engine.connect() as c:
        assert json.loads(lines[0])["anchor_hash"] == chain.read_state(c).anchor_hash
