"""chamber_checks and chamber_check_lines: the pre-meeting check asked of the gate

Revision ID: 0013_h_check_chamber_checks
Revises: 0012_h18_incidents_health
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0013_h_check_chamber_checks"
down_revision = "0012_h18_incidents_health"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chamber_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room", sa.String(length=100), nullable=False),
        sa.Column("requested_at", monitor.store.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("started_at", monitor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", monitor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_chamber_checks_room", "chamber_checks", ["room"])
    op.create_index("ix_chamber_checks_state", "chamber_checks", ["state"])
    op.create_table(
        "chamber_check_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["chamber_checks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_chamber_check_lines_check_id", "chamber_check_lines", ["check_id"])


def downgrade() -> None:
    op.drop_table("chamber_check_lines")
    op.drop_table("chamber_checks")
