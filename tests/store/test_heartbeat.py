"""The heartbeat row through its one writer and one reader: what the gate writes is what the
web, doctor and the conditions read, typed; a clean stop reads as down at once; counters
that are not counters say so (logged) instead of reading as zeros."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.counters import CountersDamaged, GateCounters, GateStats
from monitor.health import read_counters
from monitor.heartbeat import (
    STALE_AFTER,
    GateState,
    SensorState,
    gate_state,
    mark_stopped,
    read_heartbeat,
    write_heartbeat,
)
from monitor.store.db import Database
from monitor.store.migrate import upgrade
from monitor.store.models import GateHeartbeat

NOW = datetime(2026, 1, 14, 19, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    upgrade(url)
    return Database(url)


def beat(db: Database, stats: GateStats, *, at: datetime = NOW, restarted: bool = False,
         sensor: SensorState = SensorState.RUNNING) -> None:
    with db.session() as s:
        write_heartbeat(s, "chamber", pid=42, started_at=at - timedelta(hours=1), now=at,
                        enforcing=True, sensor=sensor,
                        counters=GateCounters.snapshot(stats, {"radius_received": 2}),
                        components={"gate": {"state": "up", "since": at.isoformat(),
                                             "why": ""}}, restarted=restarted)


def test_what_the_gate_writes_is_what_the_web_reads(db: Database) -> None:
    stats = GateStats(queries=10, refused=3)
    stats.errors["udp listener"] = 1
    beat(db, stats)
    stats.queries += 5  # the gate keeps counting past the snapshot it wrote
    stats.errors["udp listener"] += 1
    with db.session() as s:
        hb = read_heartbeat(s, "chamber")
        counters = read_counters(s, "chamber")
    assert hb is not None and hb.pid == 42 and hb.seen_at == NOW
    assert hb.sensor is SensorState.RUNNING and not hb.stopped
    assert counters == hb.counters
    assert counters == GateCounters(GateStats(queries=10, refused=3,
                                              errors={"udp listener": 1}),
                                    {"radius_received": 2})
    assert counters.named()["error.udp listener"] == 1
    assert counters.named()["radius_received"] == 2
    assert hb.components is not None and hb.components["gate"]["state"] == "up"


def test_gate_state_up_then_stale_then_stopped(db: Database) -> None:
    with db.session() as s:
        assert gate_state(read_heartbeat(s, "chamber"), NOW) is GateState.NEVER
        assert read_counters(s, "chamber") is None
    beat(db, GateStats())
    with db.session() as s:
        hb = read_heartbeat(s, "chamber")
    assert hb is not None
    assert hb.state(NOW + STALE_AFTER) is GateState.UP
    assert hb.state(NOW + STALE_AFTER + timedelta(seconds=1)) is GateState.DOWN
    assert not hb.enforcing_now(NOW + STALE_AFTER + timedelta(seconds=1))
    with db.session() as s:
        mark_stopped(s, "chamber")
    with db.session() as s:
        hb = read_heartbeat(s, "chamber")
    assert hb is not None and hb.stopped and hb.state(NOW) is GateState.DOWN
    assert not hb.enforcing
    beat(db, GateStats(), at=NOW + timedelta(minutes=1), restarted=True)
    with db.session() as s:
        hb = read_heartbeat(s, "chamber")
    assert hb is not None and not hb.stopped and hb.state(NOW + timedelta(minutes=1)) is \
        GateState.UP
    assert hb.started_at == NOW + timedelta(minutes=1) - timedelta(hours=1)  # the restart's


def test_started_at_kept_between_beats(db: Database) -> None:
    beat(db, GateStats())
    beat(db, GateStats(), at=NOW + timedelta(seconds=2))
    with db.session() as s:
        hb = read_heartbeat(s, "chamber")
    assert hb is not None and hb.started_at == NOW - timedelta(hours=1)
    assert hb.seen_at == NOW + timedelta(seconds=2)


def test_a_newer_gates_counters_read_as_far_as_known() -> None:
    c = GateCounters.from_json({"gate": {"queries": 4, "from_the_future": 9}})
    assert c == GateCounters(GateStats(queries=4))


def test_damaged_counters_are_reported_not_zeroed(db: Database,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(CountersDamaged, match="gate counters unreadable"):
        GateCounters.from_json({"gate": {"queries": "many"}})
    beat(db, GateStats(), sensor=SensorState.OFF)
    with db.session() as s:
        row = s.get(GateHeartbeat, "chamber")
        assert row is not None
        row.counters = {"gate": ["not", "counters"]}
        row.sensor = "sideways"
    with caplog.at_level(logging.WARNING, logger="monitor.heartbeat"), db.session() as s:
        hb = read_heartbeat(s, "chamber")
    assert hb is not None and hb.counters is None and hb.sensor is None
    assert "gate counters unreadable" in caplog.text
    assert "unknown sensor state 'sideways'" in caplog.text


def test_the_migration_matches_the_model(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from monitor.store.models import Base

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if "gate_heartbeats" in repr(d)] == []
