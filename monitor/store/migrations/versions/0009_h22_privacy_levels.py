"""privacy levels: site level, per-meeting level and totals, chain gaps, purge runs

Revision ID: 0009_h22_privacy_levels
Revises: 0008_h24_identity_sources

``site.privacy_level`` stays NULL until the first start-up syncs it from the config file;
meetings recorded before this revision have no ``meeting_privacy`` row and were "full".
See monitor/evidence/privacy.py and monitor/evidence/collapse.py.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0009_h22_privacy_levels"
down_revision = "0008_h24_identity_sources"
branch_labels = None
depends_on = None

UTC_TIME = monitor.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(sa.Column("privacy_level", sa.String(length=20), nullable=True))
    op.create_table(
        "meeting_privacy",
        sa.Column("meeting_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("fixed_at", UTC_TIME, nullable=False),
        sa.Column("collapsed_at", UTC_TIME, nullable=True),
        sa.Column("collapsed_events", sa.Integer(), nullable=False),
        sa.Column("collapsed_by_report", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("meeting_id"),
    )
    op.create_table(
        "meeting_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("platform", sa.String(length=50), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_meeting_totals_meeting", "meeting_totals", ["meeting_id", "member_id"])
    op.create_table(
        "chain_gaps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("first_event_id", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prev_hash"),
    )
    op.create_index("ix_chain_gaps_meeting_id", "chain_gaps", ["meeting_id"])
    op.create_table(
        "purge_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("events_deleted", sa.Integer(), nullable=False),
        sa.Column("reports_deleted", sa.Integer(), nullable=False),
        sa.Column("devices_deleted", sa.Integer(), nullable=False),
        sa.Column("meetings_collapsed", sa.Integer(), nullable=False),
        sa.Column("events_collapsed", sa.Integer(), nullable=False),
        sa.Column("purge_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_purge_runs_started_at", "purge_runs", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_purge_runs_started_at", table_name="purge_runs")
    op.drop_table("purge_runs")
    op.drop_index("ix_chain_gaps_meeting_id", table_name="chain_gaps")
    op.drop_table("chain_gaps")
    op.drop_index("ix_meeting_totals_meeting", table_name="meeting_totals")
    op.drop_table("meeting_totals")
    op.drop_table("meeting_privacy")
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("privacy_level")
