"""Several rooms, one database: two gate-like writer processes write at once while a reader
tails the table by id exactly as the live feed does — it must see every row once (on
PostgreSQL that needs the sink's insert lock: ids would otherwise commit out of order). And a
meeting in room A never restricts a device in room B."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from api.events.service import list_events
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.models import Device, Meeting, Member
from monitor.store.policy_loader import load_meetings, load_policy

ROOT = Path(__file__).resolve().parents[2]
PER_ROOM = 6000


def test_two_gates_one_database_the_tail_sees_every_row_once(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    seen: list[int] = []
    done = threading.Event()

    def tail() -> None:
        cursor = 0
        while True:
            finished = done.is_set()  # read before the last pass, so that pass sees all
            with db.session() as s:
                items = list_events(s, after_id=cursor, limit=500)
            for it in items:
                cursor = int(it["id"])  # type: ignore[call-overload]
                seen.append(cursor)
            if finished and not items:
                return
            if not items:
                threading.Event().wait(0.005)

    t = threading.Thread(target=tail)
    t.start()
    procs = [subprocess.Popen(
        [sys.executable, "-m", "tests.events.writer_child", db_url, str(tmp_path / room),
         room, str(PER_ROOM)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for room in ("council-chamber", "committee-room-1")]
    outs = [p.communicate(timeout=120) for p in procs]
    done.set()
    t.join(60)
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-2000:]
        assert b"done" in out
    with db.engine.connect() as c:
        ids = list(c.execute(text("SELECT id FROM events ORDER BY id")).scalars())
        per_room: dict[str, int] = dict(c.execute(text(
            "SELECT room, count(*) FROM events WHERE kind = 'attempt' GROUP BY room")).all())
        uids = c.execute(text("SELECT count(DISTINCT uid) FROM events")).scalar_one()
    assert per_room == {"council-chamber": PER_ROOM, "committee-room-1": PER_ROOM}
    assert uids == len(ids)
    assert seen == ids, (f"the tail missed {len(set(ids) - set(seen))} rows and repeated "
                         f"{len(seen) - len(set(seen))}")
    db.dispose()


def test_a_meeting_restricts_only_in_its_own_room(db: Database) -> None:
    now = datetime(2026, 3, 4, 19, 30, tzinfo=UTC)
    with db.session() as s:
        m = Member(name="Cllr Ada Lovelace")
        s.add(m)
        s.flush()
        s.add(Device(mac="02:00:5e:10:00:01", label="iPad", member_id=m.id))
        s.add_all([
            Meeting(title="Planning", start=now - timedelta(minutes=30),
                    end=now + timedelta(hours=1), room="committee-room-1"),
            Meeting(title="Licensing (next week)", start=now + timedelta(days=7),
                    end=now + timedelta(days=7, hours=2), room="council-chamber"),
        ])
    settings = {room: Settings(site={"room": room})
                for room in ("committee-room-1", "council-chamber")}
    with db.session() as s:
        assert [mc.title for mc in load_meetings(s, room="council-chamber", around=now)] == []
        assert [mc.title for mc in load_meetings(s, room="committee-room-1", around=now)] == \
            ["Planning"]
        in_a = load_policy(s, settings["committee-room-1"], now)
        in_b = load_policy(s, settings["council-chamber"], now)
    assert in_a.restriction("02:00:5e:10:00:01", now).restricted
    assert not in_b.restriction("02:00:5e:10:00:01", now).restricted
    # A meeting with no room set applies in every room (single-room installs import
    # meetings without one); policy_loader documents this.
    with db.session() as s:
        s.add(Meeting(title="Full Council", start=now - timedelta(minutes=5),
                      end=now + timedelta(hours=1), room=None))
    with db.session() as s:
        assert load_policy(s, settings["council-chamber"], now).restriction(
            "02:00:5e:10:00:01", now).restricted
