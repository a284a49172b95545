"""incidents (typed outages and errors) and the per-component health in the heartbeat

Revision ID: 0009_h18_incidents_health
Revises: 0008_h24_identity_sources
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0009_h18_incidents_health"
down_revision = "0008_h24_identity_sources"
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


def downgrade() -> None:
    with op.batch_alter_table("gate_heartbeats") as b:
        b.drop_column("components")
    op.drop_table("incidents")
