"""committee_scope: IT's per-committee override of the meeting scope rules

Revision ID: 0004_committee_scope_overrides
Revises: 0003_event_uid_and_kind_index
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0004_committee_scope_overrides"
down_revision = "0003_event_uid_and_kind_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "committee_scope",
        sa.Column("committee_key", sa.String(length=300), nullable=False),
        sa.Column("in_scope", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("committee_key"),
    )


def downgrade() -> None:
    op.drop_table("committee_scope")
