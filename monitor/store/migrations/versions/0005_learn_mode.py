"""learn mode: sessions and the names a learning device resolved

Revision ID: 0005_learn_mode
Revises: 0004_committee_scope_overrides
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0005_learn_mode"
down_revision = "0004_committee_scope_overrides"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learn_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("started_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_learn_sessions_device_id", "learn_sessions", ["device_id"])
    op.create_table(
        "learned_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), sa.ForeignKey("learn_sessions.id"), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("first_seen", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lookups", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "name"),
    )
    op.create_index("ix_learned_names_session_id", "learned_names", ["session_id"])


def downgrade() -> None:
    op.drop_table("learned_names")
    op.drop_table("learn_sessions")
