"""The event write path: fields survive the trip, floods are stored or counted (never silently
lost), submit never waits, the spool format's damage rules, and device presence."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, inspect, select, text

from allowlist.decision import Policy
from allowlist.rules import RuleSet
from monitor.events import (
    FIELDS,
    EventAction,
    EventKind,
    EventRecord,
    EventWriter,
    store_now,
)
from monitor.evidence.devices import PresenceNote, unregistered_devices
from monitor.evidence.spool import Spool, read_segment
from monitor.gate.exchange import Exchange
from monitor.gate.presence import Presence
from monitor.store.db import Database
from monitor.store.models import Device, Event, Member
from tests.events.test_crash import blocked

T0 = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)


def rec(i: int = 0, **kw: Any) -> EventRecord:
    base: dict[str, Any] = dict(
        ts=T0 + timedelta(milliseconds=i), kind=EventKind.ATTEMPT, action=EventAction.REFUSED,
        room="chamber", mac="02:00:5e:10:00:01", device_id=1, member_id=2, meeting_id=3,
        domain="www.instagram.com", platform="instagram", category="social",
        channels="dns,tls", rule="catalogue:instagram", detail=f"n={i}")
    base.update(kw)
    return EventRecord(**base)


@pytest.fixture
def writer(db: Database, tmp_path: Path) -> Iterator[EventWriter]:
    w = EventWriter(db, room="chamber", spool_dir=tmp_path / "spool")
    yield w
    w.stop()


def count(db: Database, where: str = "1=1") -> int:
    with db.engine.connect() as c:
        return int(c.execute(text(f"SELECT count(*) FROM events WHERE {where}")).scalar_one())


def test_record_round_trip(db: Database, writer: EventWriter, tmp_path: Path) -> None:
    writer.start()
    r = rec(7)
    assert writer.submit(r)
    assert writer.flush(30)
    assert writer.acknowledged == 1 and writer.written == 1
    with db.session() as s:
        e = s.execute(select(Event)).scalar_one()
    assert {k: getattr(e, k) for k in r.row() if k != "uid"} == {
        k: v for k, v in r.row().items() if k != "uid"}
    assert e.uid is not None and e.uid.startswith(writer.boot + "-")
    # An aware time in another zone is stored as the same instant.
    assert writer.submit(rec(8, ts=T0.astimezone(timezone(timedelta(hours=1)))))
    assert writer.flush(30)
    with db.session() as s:
        assert s.execute(select(Event.ts).where(Event.detail == "n=8")).scalar_one() == T0
    writer.stop()
    assert [p.name for p in (tmp_path / "spool").iterdir()] == [".lock"], \
        "a committed spool is deleted on a clean stop"


def test_flood_of_100k_is_stored_or_counted(db: Database, writer: EventWriter) -> None:
    writer.start()
    n = 100_000
    r = rec()
    accepted = sum(1 for _ in range(n) if writer.submit(r))
    assert accepted + writer.dropped == n
    assert writer.flush(120)
    assert count(db, "kind = 'attempt'") == accepted == writer.acknowledged
    outages = _outage_drops(db)
    assert outages == writer.dropped, "every drop is recorded as an outage event"


def _outage_drops(db: Database) -> int:
    with db.engine.connect() as c:
        details = c.execute(text("SELECT detail FROM events WHERE kind = 'outage'")).scalars()
        return sum(int(d.split(": ")[1].split()[0]) for d in details
                   if d.startswith("event queue full"))


def test_overflow_is_counted_and_recorded(db: Database, tmp_path: Path) -> None:
    # Not started yet: nothing drains the buffer, so exactly capacity records fit.
    w = EventWriter(db, room="chamber", spool_dir=tmp_path / "spool", capacity=1000)
    results = [w.submit(rec(i)) for i in range(5000)]
    assert results.count(True) == 1000 and w.dropped == 4000
    w.start()
    assert w.flush(30)
    w.stop()
    assert count(db, "kind = 'attempt'") == 1000
    with db.engine.connect() as c:
        (detail, room), = c.execute(text("SELECT detail, room FROM events WHERE kind='outage'"))
    assert detail == "event queue full: 4000 events dropped" and room == "chamber"


def test_submit_never_waits_even_when_the_database_is_stuck(db_url: str, db: Database,
                                                            tmp_path: Path) -> None:
    """The submitting loop runs to the end while the database is held and the buffer
    overflows; and the accepted path makes no call that could wait (traced, not timed)."""
    w = EventWriter(db, room="chamber", spool_dir=tmp_path / "spool", capacity=20_000)
    calls: set[str] = set()

    def tracer(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and arg is not sys.setprofile:
            calls.add(arg.__name__)

    with blocked(db_url):
        w.start()
        finished = threading.Event()

        def burst() -> None:
            r = rec()
            sys.setprofile(tracer)
            try:
                for _ in range(1000):
                    w.submit(r)
            finally:
                sys.setprofile(None)
            for _ in range(99_000):
                w.submit(r)
            finished.set()

        t = threading.Thread(target=burst)
        t.start()
        # A deadlock detector, not a timing assertion: a submit that waited for the
        # database would still be waiting when this returns.
        t.join(60)
        assert finished.is_set(), "submit() waited while the database was held"
        assert w.dropped > 0, "the buffer overflowed while the database was held"
    assert calls <= {"len", "append"}, f"submit() made calls that may wait: {calls}"
    assert w.flush(60)
    w.stop()
    assert count(db, "kind = 'attempt'") + w.dropped == 100_000
    assert _outage_drops(db) == w.dropped


def test_spool_segment_format_and_damage(tmp_path: Path) -> None:
    sp = Spool(tmp_path, FIELDS, "boot1")
    assert sp.open() == []
    sp.append(2, [rec(1).wire("boot1-1"), rec(2).wire("boot1-2")])
    sp.append(5, [rec(i).wire(f"boot1-{i}") for i in (3, 4, 5)])
    sp.append(6, [rec(6).wire("boot1-6")])
    sp.close()  # nothing committed: the segment stays
    (seg,) = tmp_path.glob("*.spool")
    lines = seg.read_bytes().splitlines(keepends=True)
    assert lines[0] == ("#chamberguard-spool/2 " + ",".join(FIELDS) + "\n").encode()
    assert lines[1].split(b" ")[1] == b"2"  # CRC, row count, JSON rows
    assert b'"2026-03-04 19:00:00.001000"' in lines[1]  # UTC storage text
    # Damage the second batch, and tear the third off mid-write.
    bad = lines[2].replace(b"instagram", b"instagrab", 1)
    seg.write_bytes(lines[0] + lines[1] + bad + lines[3][:30])
    got = read_segment(seg)
    assert [r[0] for r in got.rows] == ["boot1-1", "boot1-2"]
    assert got.damaged == 3 and got.torn


def test_a_busy_spool_degrades_to_not_crash_safe_and_says_so(db: Database,
                                                             tmp_path: Path) -> None:
    first = EventWriter(db, room="chamber", spool_dir=tmp_path / "spool")
    first.start()
    second = EventWriter(db, room="chamber", spool_dir=tmp_path / "spool")
    second.start()  # a second process on the same spool: must not stop the gate
    second.submit(rec(1))
    assert second.flush(30)
    second.stop()
    first.stop()
    assert second.spool is None and count(db, "kind = 'attempt'") == 1
    with db.engine.connect() as c:
        (detail,) = c.execute(text("SELECT detail FROM events WHERE kind='outage'")).scalars()
    assert detail == "event spool unavailable (SpoolBusy): events are not crash-safe"


def test_storage_columns_are_the_event_table() -> None:
    chain = {"id", "prev_hash", "hash"}  # id from the database, the chain from the sink
    assert set(FIELDS) == {c.name for c in Event.__table__.columns} - chain


def test_replay_is_idempotent_and_reports_damage(db: Database, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    # An earlier run: three events spooled, the first already committed before the crash.
    sp = Spool(spool_dir, FIELDS, "old")
    sp.open()
    sp.append(3, [rec(i).wire(f"old-{i}") for i in (1, 2, 3)])
    sp.close()
    with db.engine.begin() as c:
        c.execute(insert(Event), [rec(1).row("old-1")])  # the ORM path reads the same
    (seg,) = spool_dir.glob("*.spool")
    with seg.open("ab") as f:
        f.write(b"00000000 1 [[\"garbage\"]]\n")
    w = EventWriter(db, room="chamber", spool_dir=spool_dir)
    w.start()
    assert w.flush(30)
    w.stop()
    with db.engine.connect() as c:
        uids = sorted(c.execute(text("SELECT uid FROM events WHERE kind='attempt'")).scalars())
        (detail,) = c.execute(text("SELECT detail FROM events WHERE kind='outage'")).scalars()
    assert uids == ["old-1", "old-2", "old-3"]
    assert detail == "event spool: 1 damaged records could not be replayed"
    assert w.spool_damaged == 1


def test_stop_with_database_unreachable_keeps_the_spool(db: Database, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    dead = Database("postgresql+psycopg://postgres@127.0.0.1:1/nothing")  # connection refused
    w = EventWriter(dead, room="chamber", spool_dir=spool_dir)
    w.start()
    for i in range(50):
        w.submit(rec(i))
    assert not w.flush(0.5)
    assert w.acknowledged == 50 and w.written == 0  # durable although not committed
    w.stop(timeout=0.5)  # gives up on the database, not on the events
    dead.dispose()
    assert any(spool_dir.glob("*.spool"))
    w2 = EventWriter(db, room="chamber", spool_dir=spool_dir)
    w2.start()
    assert w2.flush(60)
    w2.stop()
    assert count(db, "kind = 'attempt'") == 50 and w2.replayed == 50


def test_rejected_row_is_set_aside_and_reported(db: Database, writer: EventWriter) -> None:
    writer.start()
    writer.submit(rec(1))
    writer.submit(rec(2, ts=datetime(2026, 3, 4, 19, 0)))  # naive: the database refuses it
    writer.submit(rec(3))
    assert writer.flush(30)
    assert count(db, "kind = 'attempt'") == 2
    with db.engine.connect() as c:
        (detail,) = c.execute(text("SELECT detail FROM events WHERE kind='outage'")).scalars()
    assert detail.startswith("an event could not be stored")
    assert writer.rejected == 1


# -- presence -----------------------------------------------------------------------------

def _policy_in_session(meeting_id: int | None) -> Policy:
    from allowlist.clock import MeetingClock

    meetings = () if meeting_id is None else (
        MeetingClock(meeting_id, "Full Council", T0 - timedelta(hours=1), T0 + timedelta(hours=2)),)
    return Policy(rules=RuleSet.compile(()), meetings=meetings)


def _ex(mac: str | None, ip: str, at: datetime) -> Exchange:
    ex = Exchange(raw=b"", client_ip=ip, client_port=5353, redirected=False,
                  received=at.timestamp())
    ex.mac = mac
    return ex


def test_presence_step_throttles_per_device() -> None:
    notes: list[PresenceNote] = []
    step = Presence(notes.append, lambda: _policy_in_session(9))
    a, b = "02:00:5e:10:00:01", "02:00:5e:20:00:02"
    for sec, mac in [(0, a), (1, a), (2, b), (29, a), (30, a), (31, b), (61, a)]:
        step.before(_ex(mac, "198.51.100.7", T0 + timedelta(seconds=sec)))
    step.before(_ex(None, "198.51.100.9", T0))  # no MAC known: nothing to note
    assert [(n.mac, n.ts - T0, n.meeting_id) for n in notes] == [
        (a, timedelta(0), 9), (b, timedelta(seconds=2), 9), (a, timedelta(seconds=30), 9),
        (a, timedelta(seconds=61), 9)]


def test_presence_updates_devices_and_reports_new_unregistered(db: Database,
                                                               writer: EventWriter) -> None:
    with db.session() as s:
        m = Member(name="Cllr Ada Lovelace")
        s.add(m)
        s.flush()
        s.add(Device(mac="02:00:5e:10:00:01", label="iPad", member_id=m.id))
    writer.start()
    member_mac, guest, later = "02:00:5e:10:00:01", "02:00:5e:20:00:02", "02:00:5e:30:00:03"
    writer.note_presence(PresenceNote(member_mac, "198.51.100.10", T0, 5))
    writer.note_presence(PresenceNote(guest, "198.51.100.11", T0, 5))  # during a meeting
    writer.note_presence(PresenceNote(later, "198.51.100.12", T0, None))  # no meeting
    assert writer.flush(30)
    writer.note_presence(PresenceNote(guest, "198.51.100.21", T0 + timedelta(minutes=1), 5))
    assert writer.flush(30)
    _wait_for(lambda: _device(db, guest)["last_ip"] == "198.51.100.21")
    assert writer.flush(30)
    dev = _device(db, member_mac)
    assert (dev["label"], dev["last_ip"], dev["last_seen"]) == ("iPad", "198.51.100.10", T0)
    g = _device(db, guest)
    assert g["member_id"] is None and g["label"] == "" and g["hostname"] is None
    assert (g["created_at"], g["last_seen"]) == (T0, T0 + timedelta(minutes=1))
    assert _device(db, later)["member_id"] is None
    with db.engine.connect() as c:
        seen = c.execute(text("SELECT device_id, mac, meeting_id, room FROM events "
                              "WHERE kind = 'device-seen'")).all()
    # One event, for the unregistered device first seen during the meeting; its MAC stays
    # on the device row only.
    assert [tuple(r) for r in seen] == [(g["id"], None, 5, "chamber")]
    # The "seen but unregistered" list IT claims devices from.
    with db.engine.connect() as c:
        listed = unregistered_devices(c)
    assert [(d["mac"], d["last_ip"]) for d in listed] == [
        (guest, "198.51.100.21"), (later, "198.51.100.12")]


def test_store_now_goes_through_the_sink(db: Database) -> None:
    store_now(db, [rec(1, kind=EventKind.OUTAGE, detail="gate was down"), rec(2)])
    with db.engine.connect() as c:
        rows = c.execute(text("SELECT kind, uid FROM events ORDER BY id")).all()
    assert [k for k, _ in rows] == ["outage", "attempt"] and all(u for _, u in rows)


def _device(db: Database, mac: str) -> dict[str, Any]:
    with db.engine.connect() as c:
        row = c.execute(select(Device.__table__).where(Device.mac == mac)).mappings().one()
        return dict(row)


def _wait_for(cond: Any, tries: int = 500) -> None:
    for _ in range(tries):
        if cond():
            return
        threading.Event().wait(0.01)
    raise AssertionError("condition not met")


def test_indexes_for_reports_and_dashboard(db: Database) -> None:
    with db.engine.connect() as c:
        idx = {tuple(i["column_names"]): bool(i["unique"])
               for i in inspect(c).get_indexes("events")}
    assert idx[("meeting_id", "member_id", "ts")] is False
    assert idx[("device_id", "ts")] is False
    assert idx[("ts",)] is False
    assert idx[("kind", "ts")] is False
    assert idx[("uid",)] is True
