"""gate_heartbeats: typed fields (stopped, sensor, counters JSON) instead of a "k=v,…" detail

Revision ID: 0014_h_types_heartbeat_fields
Revises: 0013_h_check_chamber_checks

The detail string carried the gate's counters, the sensor's state ("sensor=running") and a
clean stop (the whole string "stopped"), and every reader parsed it. Existing rows are
converted once: counters the gate counted go under "gate" (its own failures, "error.<where>",
under gate.errors), the identity sources' under "identity", as monitor.counters.GateCounters
stores them; downgrade writes the string back.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014_h_types_heartbeat_fields"
down_revision = "0013_h_check_chamber_checks"
branch_labels = None
depends_on = None

# GateStats' counters when this revision was written (a migration keeps its own copy).
GATE = ("queries", "answered", "refused", "forwarded", "out_of_scope", "malformed",
        "rate_limited", "upstream_timeouts", "upstream_errors", "set_updates", "events",
        "unlisted_refused")
SENSOR = ("off", "running", "stopped")


def _table() -> sa.TableClause:
    return sa.table("gate_heartbeats", sa.column("room", sa.String()),
                    sa.column("detail", sa.Text()), sa.column("stopped", sa.Boolean()),
                    sa.column("sensor", sa.String()), sa.column("counters", sa.JSON()))


def parse_detail(detail: str | None) -> dict[str, Any]:
    """The typed fields of one old detail string (unreadable parts are left out)."""
    detail = (detail or "").strip()
    if detail == "stopped":
        return {"stopped": True, "sensor": None, "counters": None}
    gate: dict[str, Any] = {}
    errors: dict[str, int] = {}
    identity: dict[str, int] = {}
    sensor = None
    for part in detail.split(","):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            continue
        if key == "sensor":
            sensor = value if value in SENSOR else None
            continue
        try:
            n = int(value)
        except ValueError:
            continue
        if key.startswith("error."):
            errors[key[len("error."):]] = n
        elif key in GATE:
            gate[key] = n
        else:
            identity[key] = n
    counters = None
    if gate or errors or identity:
        counters = {"gate": {**{k: 0 for k in GATE}, **gate, "errors": errors},
                    "identity": identity}
    return {"stopped": False, "sensor": sensor, "counters": counters}


def upgrade() -> None:
    with op.batch_alter_table("gate_heartbeats") as b:
        b.add_column(sa.Column("stopped", sa.Boolean(), nullable=False,
                               server_default=sa.false()))
        b.add_column(sa.Column("sensor", sa.String(length=20), nullable=True))
        b.add_column(sa.Column("counters", sa.JSON(), nullable=True))
    conn = op.get_bind()
    t = _table()
    for room, detail in conn.execute(sa.select(t.c.room, t.c.detail)).all():
        conn.execute(t.update().where(t.c.room == room).values(**parse_detail(detail)))
    with op.batch_alter_table("gate_heartbeats") as b:
        b.drop_column("detail")


def format_detail(stopped: bool, sensor: str | None, counters: Any) -> str:
    if stopped:
        return "stopped"
    parts: list[str] = []
    if isinstance(counters, dict):
        gate = dict(counters.get("gate") or {})
        errors = gate.pop("errors", None) or {}
        parts += [f"{k}={v}" for k, v in gate.items()]
        parts += [f"error.{k}={v}" for k, v in sorted(errors.items())]
        parts += [f"{k}={v}" for k, v in (counters.get("identity") or {}).items()]
    if sensor:
        parts.append(f"sensor={sensor}")
    return ",".join(parts)


def downgrade() -> None:
    with op.batch_alter_table("gate_heartbeats") as b:
        b.add_column(sa.Column("detail", sa.Text(), nullable=False, server_default=""))
    conn = op.get_bind()
    t = _table()
    for room, stopped, sensor, counters in conn.execute(
            sa.select(t.c.room, t.c.stopped, t.c.sensor, t.c.counters)).all():
        conn.execute(t.update().where(t.c.room == room).values(
            detail=format_detail(bool(stopped), sensor, counters)))
    with op.batch_alter_table("gate_heartbeats") as b:
        b.drop_column("stopped")
        b.drop_column("sensor")
        b.drop_column("counters")
