"""Issue 19, "conditions as they were": the gate records a change in the conditions at the
instant it sees it (its own clock), not when a watcher next polls.

A real daemon (mirror topology: no sockets, no nftables) on a migrated database, its sensor
supervisor spawning fake processes, its wall clock a list the test moves.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from monitor.conditions import (
    ACTION,
    Change,
    ConditionsLog,
    GateConditions,
    record_now,
)
from monitor.daemon import GateDaemon
from monitor.guard import Guard
from monitor.store.db import Database
from monitor.store.models import AuditRow
from monitor.supervise import SensorSupervisor
from tests import factories

T0 = datetime(2026, 3, 4, 18, 0, 0, 123000, tzinfo=UTC)


class FakeProc:
    def __init__(self) -> None:
        self.pid = 4242
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


def rows(db: Database) -> list[AuditRow]:
    with db.session() as s:
        found = s.execute(select(AuditRow).where(AuditRow.action == ACTION)
                          .order_by(AuditRow.id)).scalars().all()
        s.expunge_all()
        return list(found)


def test_each_change_is_recorded_at_its_own_time(tmp_path: Path) -> None:
    cfg = factories.settings(tmp_path, '[capture]\nenabled = false\n')
    cfg.site.topology = "mirror"
    db = factories.migrated_db(tmp_path)
    wall = [T0]
    daemon = GateDaemon(cfg, db, wall=lambda: wall[0])
    proc = FakeProc()

    async def scenario() -> None:
        await daemon.start()  # mirror: returns once the policy is loaded, nothing bound
        # Started: one row, at the start's instant, saying what runs.
        [start] = rows(db)
        assert start.ts == T0 and start.after is not None
        assert (start.after["gate"], start.after["enforcing"], start.after["sensor"],
                start.after["reason"], start.after["at"]) == (
            "up", False, "off", "gate started (not enforcing)", T0.isoformat())
        # The sensor comes up: seen by the supervisor's check at T1, recorded at T1 — the
        # write happens later (the heartbeat), the time does not move.
        daemon._sensor = SensorSupervisor(  # noqa: SLF001 - the supervisor under test's
            ["sensor"], tmp_path / "alive", spawn=lambda c: proc)  # type: ignore[arg-type, return-value]
        daemon._sensor.start()  # noqa: SLF001
        t1 = T0 + timedelta(seconds=7, microseconds=450)
        daemon.assess(t1)
        assert daemon.conditions.pending  # the ticker writes at once when one is pending
        wall[0] = t1 + timedelta(seconds=29)  # a poll-late writer would stamp this
        daemon._heartbeat()  # noqa: SLF001
        # The sensor dies: the next check sees it.
        proc.code = 1
        t2 = t1 + timedelta(seconds=3)
        daemon.assess(t2)
        daemon.assess(t2 + timedelta(seconds=1))  # no change: no row
        daemon._heartbeat()  # noqa: SLF001
        # The gate stops: recorded at the stop's instant.
        t3 = t2 + timedelta(seconds=60)
        wall[0] = t3
        daemon._sensor = None  # noqa: SLF001 - nothing real to stop
        await daemon.shutdown()

    try:
        asyncio.run(scenario())
        got = [(r.ts, r.after["sensor"], r.after["gate"], r.after["reason"])  # type: ignore[index]
               for r in rows(db)]
        t1 = T0 + timedelta(seconds=7, microseconds=450)
        t2 = t1 + timedelta(seconds=3)
        assert got == [
            (T0, "off", "up", "gate started (not enforcing)"),
            (t1, "running", "up", "sensor running"),
            (t2, "stopped", "up", "sensor stopped"),
            (t2 + timedelta(seconds=60), "not running (gate down)", "down", "gate stopped"),
        ]
        for r in rows(db):
            assert r.after is not None and r.after["at"] == r.ts.isoformat()
            assert r.actor == "system" and r.after["topology"] == "mirror"
    finally:
        db.dispose()


def test_enforcing_changes_have_their_own_words_and_time(tmp_path: Path) -> None:
    """The gate starting and stopping enforcing (a mode switch reaching it) each get a row
    stamped with the moment the gate saw it; an unchanged note writes nothing."""
    cfg = factories.settings(tmp_path)
    db = factories.migrated_db(tmp_path)
    now = [T0]
    log = ConditionsLog(lambda: now[0])
    try:
        assert log.note(GateConditions("up", True, "running"))
        now[0] = T0 + timedelta(minutes=5)
        assert not log.note(GateConditions("up", True, "running"))
        assert log.note(GateConditions("up", False, "running"))
        now[0] = T0 + timedelta(minutes=9)
        assert log.note(GateConditions("up", True, "running"))
        now[0] = T0 + timedelta(hours=1)  # written late: the times stay the changes'
        with db.session() as s:
            assert log.write(s, cfg) == 3
        assert [(r.ts, r.after["reason"]) for r in rows(db)] == [  # type: ignore[index]
            (T0, "gate started enforcing"),
            (T0 + timedelta(minutes=5), "gate stopped enforcing"),
            (T0 + timedelta(minutes=9), "gate started enforcing"),
        ]
    finally:
        db.dispose()


def test_guard_fail_open_is_recorded_at_that_instant(tmp_path: Path) -> None:
    """The guard (a separate process) records the chamber failing open with its own time,
    through the same function the daemon's rows go through; a repeat adds nothing."""
    cfg = factories.settings(tmp_path)
    db = factories.migrated_db(tmp_path)
    try:
        guard = Guard(cfg, db, ["true"], None, wall=lambda: T0)
        at = guard.wall()
        change = Change(GateConditions.down(), "worker hung; the chamber failed open", at)
        record_now(db, cfg, change)
        record_now(db, cfg, Change(GateConditions.down(), "again", at + timedelta(1)))
        [row] = rows(db)
        assert row.ts == T0 and row.after is not None
        assert (row.after["gate"], row.after["enforcing"], row.after["reason"]) == (
            "down", False, "worker hung; the chamber failed open")
    finally:
        db.dispose()
