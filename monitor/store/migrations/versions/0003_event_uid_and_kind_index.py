"""events: writer-given unique uid (idempotent spool replay) and a (kind, ts) index

Revision ID: 0003_event_uid_and_kind_index
Revises: 0002_it_platform_domains
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_event_uid_and_kind_index"
down_revision = "0002_it_platform_domains"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uid", sa.String(length=40), nullable=True))
        batch_op.create_index("ux_events_uid", ["uid"], unique=True)
        batch_op.create_index("ix_events_kind_ts", ["kind", "ts"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_kind_ts")
        batch_op.drop_index("ux_events_uid")
        batch_op.drop_column("uid")
