"""incidents (typed outages and errors) and the per-component health in the heartbeat

Outage events written before this revision are carried over once, so reports on past
meetings keep their uptime: "gate was down from A to B" becomes a gate outage A–B, a "failed
open" event a gate outage until the next recorded restart, anything else a loss incident.

Revision ID: 0012_h18_incidents_health
Revises: 0011_h20_device_keys
"""
from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0012_h18_incidents_health"
down_revision = "0011_h20_device_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("component", sa.String(length=20), nullable=False),
        sa.Column("room", sa.String(length=100), nullable=True),
        sa.Column("started_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", monitor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cause", sa.String(length=500), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_started_at", "incidents", ["started_at"])
    with op.batch_alter_table("gate_heartbeats") as b:
        b.add_column(sa.Column("components", sa.JSON(), nullable=True))
    _carry_over_outage_events()


_DOWN = re.compile(r"gate was down from (\S+) to (\S+)")


def _aware(t: datetime | str) -> datetime:
    t = datetime.fromisoformat(t) if isinstance(t, str) else t
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _carry_over_outage_events() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT ts, room, detail FROM events WHERE kind = 'outage' "
                                "ORDER BY ts, id")).all()
    spans: list[tuple[str | None, datetime, datetime, str]] = []
    opens: list[tuple[str | None, datetime, str]] = []
    other: list[tuple[str | None, datetime, str]] = []
    for ts, room, detail in rows:
        detail = detail or ""
        m = _DOWN.search(detail)
        try:
            if m:
                spans.append((room, _aware(m.group(1)), _aware(m.group(2)),
                              "gate not running (no heartbeat); recorded when it restarted"))
                continue
        except ValueError:
            pass
        (opens if "failed open" in detail else other).append((room, _aware(ts), detail))
    out: list[tuple[str, str, str | None, datetime, datetime | None, str]] = []
    for room, a, b, cause in spans:
        out.append(("outage", "gate", room, a, b, cause))
    for room, ts, detail in opens:
        covering = [i for i, (r, a, b, _) in enumerate(spans) if r == room and a <= ts <= b]
        if covering:  # the restart's span, explained by the guard's words
            k = out[covering[0]]
            out[covering[0]] = (*k[:5], detail)
            continue
        later = [a for r, a, _, _ in spans if r == room and a > ts]
        out.append(("outage", "gate", room, ts, min(later) if later else None, detail))
    for room, ts, detail in other:
        out.append(("loss", "events", room, ts, ts, detail))
    table = sa.table("incidents", sa.column("kind"), sa.column("component"), sa.column("room"),
                     sa.column("started_at", monitor.store.types.UTCDateTime()),
                     sa.column("ended_at", monitor.store.types.UTCDateTime()),
                     sa.column("cause"), sa.column("count"))
    if out:
        conn.execute(table.insert(), [
            {"kind": k, "component": c, "room": r, "started_at": a, "ended_at": b,
             "cause": cause[:500], "count": 1} for k, c, r, a, b, cause in out])


def downgrade() -> None:
    with op.batch_alter_table("gate_heartbeats") as b:
        b.drop_column("components")
    op.drop_table("incidents")
