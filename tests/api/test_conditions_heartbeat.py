"""The conditions a report states read the gate's typed heartbeat: the gate's state, whether
it enforces and the passive sensor's state — never a parsed string."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.site.conditions import snapshot
from monitor.counters import GateCounters
from monitor.heartbeat import STALE_AFTER, SensorState, mark_stopped, write_heartbeat
from monitor.settings import Settings
from monitor.store.db import Database
from monitor.store.migrate import upgrade

NOW = datetime(2026, 1, 14, 19, 0, tzinfo=UTC)


def test_conditions_follow_the_typed_heartbeat(tmp_path: Path) -> None:
    settings = Settings(site={"data_dir": tmp_path, "room": "chamber",  # type: ignore[arg-type]
                              "topology": "inline"})
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            assert snapshot(s, settings, NOW)["gate"] == "never started"
            write_heartbeat(s, "chamber", pid=1, started_at=NOW, now=NOW, enforcing=True,
                            sensor=SensorState.RUNNING, counters=GateCounters(),
                            components={})
        with db.session() as s:
            up = snapshot(s, settings, NOW)
            stale = snapshot(s, settings, NOW + STALE_AFTER + timedelta(seconds=1))
        assert (up["gate"], up["enforcing"], up["sensor"]) == ("up", True, "running")
        assert (stale["gate"], stale["enforcing"], stale["sensor"]) == (
            "down", False, "not running (gate down)")
        with db.session() as s:
            mark_stopped(s, "chamber")
        with db.session() as s:
            stopped = snapshot(s, settings, NOW)
        assert (stopped["gate"], stopped["enforcing"]) == ("down", False)
    finally:
        db.dispose()
