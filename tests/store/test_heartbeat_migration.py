"""Issue #23: the heartbeat's "k=v,…" detail becomes typed fields. Rows written by an older
gate are converted once — counters, the gate's own errors, the identity sources' counters,
the sensor's state and a clean stop — on SQLite and PostgreSQL, and a downgrade writes the
same string back."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from alembic import command
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from monitor.counters import GateCounters, GateStats
from monitor.heartbeat import GateState, SensorState, read_heartbeat
from monitor.store.db import Database
from monitor.store.migrate import alembic_config, upgrade
from tests.pg import pg_cluster  # noqa: F401  (session fixture)

BEFORE = "0013_h_check_chamber_checks"
SEEN = datetime(2026, 1, 14, 19, 0, tzinfo=UTC)
RUNNING = ("queries=120,answered=100,refused=7,error.Record.after=2,radius_received=5,"
           "radius_accepted=4,identity_identified=3,sensor=running")
OLD = {"chamber": RUNNING, "annexe": "stopped", "lobby": "queries=x,,=3,sensor=sideways"}


def test_heartbeat_detail_becomes_typed_fields_sqlite(tmp_path: Path) -> None:
    check(f"sqlite:///{tmp_path / 'old.db'}")


def test_heartbeat_detail_becomes_typed_fields_postgres(pg_cluster) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    check(pg_cluster.new_database(migrated=False))


def check(url: str) -> None:
    upgrade(url, BEFORE)
    db = Database(url)
    with db.engine.begin() as c:
        for room, detail in OLD.items():
            c.execute(text("INSERT INTO gate_heartbeats (room, pid, started_at, seen_at, "
                           "enforcing, detail) VALUES (:r, 7, :t, :t, true, :d)"),
                      {"r": room, "t": SEEN.replace(tzinfo=None), "d": detail})
    db.dispose()

    upgrade(url)
    db = Database(url)
    with db.session() as s:
        beats = {room: read_heartbeat(s, room) for room in OLD}
    db.dispose()

    chamber = beats["chamber"]
    assert chamber is not None and not chamber.stopped
    assert chamber.sensor is SensorState.RUNNING
    assert chamber.counters == GateCounters(
        GateStats(queries=120, answered=100, refused=7, errors={"Record.after": 2}),
        {"radius_received": 5, "radius_accepted": 4, "identity_identified": 3})
    assert chamber.state(SEEN) is GateState.UP and chamber.enforcing_now(SEEN)

    annexe = beats["annexe"]
    assert annexe is not None and annexe.stopped and annexe.counters is None
    assert annexe.state(SEEN) is GateState.DOWN and not annexe.enforcing_now(SEEN)

    lobby = beats["lobby"]  # nothing readable in it: nothing invented
    assert lobby is not None and lobby.sensor is None and lobby.counters is None

    command.downgrade(alembic_config(url), BEFORE)
    db = Database(url)
    with db.engine.connect() as c:
        back = dict(c.execute(text("SELECT room, detail FROM gate_heartbeats")).all())
    db.dispose()
    assert back["annexe"] == "stopped"
    assert back["lobby"] == ""
    parts = set(back["chamber"].split(","))
    assert set(RUNNING.split(",")) <= parts  # plus the zero counters the typed row names
    assert parts - set(RUNNING.split(",")) == {
        f"{k}=0" for k in ("forwarded", "out_of_scope", "malformed", "rate_limited",
                           "upstream_timeouts", "upstream_errors", "set_updates", "events",
                           "unlisted_refused")}


def _migration() -> ModuleType:
    path = (Path(__file__).resolve().parents[2] / "monitor/store/migrations/versions"
            / "0014_h_types_heartbeat_fields.py")
    spec = importlib.util.spec_from_file_location("h_types_0013", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


MIGRATION = _migration()
NAMES = st.sampled_from([*MIGRATION.GATE, "radius_received", "identity_identified",
                         "error.Record.after", "error.udp listener"])


@given(st.text(max_size=200))
def test_any_old_detail_converts_without_error(detail: str) -> None:
    """Whatever an old row holds, the upgrade converts it (dropping what is not a counter)
    into counters a reader validates."""
    fields = MIGRATION.parse_detail(detail)
    if fields["counters"] is not None:
        GateCounters.from_json(fields["counters"])
    assert fields["sensor"] in (None, *MIGRATION.SENSOR)


@given(st.dictionaries(NAMES, st.integers(0, 2**40), min_size=1),
       st.sampled_from(["off", "running", "stopped"]))
def test_old_detail_round_trips(counts: dict[str, int], sensor: str) -> None:
    """What the gate used to write (counters, then the sensor) comes back unchanged after an
    upgrade and a downgrade (plus the gate counters it did not name, as 0)."""
    gate = [f"{k}={v}" for k, v in counts.items() if not k.startswith("error.")
            and k in MIGRATION.GATE]
    errors = sorted(f"{k}={v}" for k, v in counts.items() if k.startswith("error."))
    other = [f"{k}={v}" for k, v in counts.items() if k not in MIGRATION.GATE
             and not k.startswith("error.")]
    detail = ",".join([*gate, *errors, *other, f"sensor={sensor}"])
    f = MIGRATION.parse_detail(detail)
    back = MIGRATION.format_detail(f["stopped"], f["sensor"], f["counters"]).split(",")
    assert set(detail.split(",")) <= set(back)
    assert {p for p in back if p not in detail.split(",")} <= {
        f"{k}=0" for k in MIGRATION.GATE}
