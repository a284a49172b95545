"""meeting_extensions, meeting_exemptions, meetings.end_guessed, refused_names (issue 21)

Revision ID: 0010_h21_overrun_exemptions
Revises: 0009_h22_privacy_levels
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0010_h21_overrun_exemptions"
down_revision = "0009_h22_privacy_levels"
branch_labels = None
depends_on = None

UTC = monitor.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "meeting_extensions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("meeting_id", sa.Integer(),
                  sa.ForeignKey("meetings.id", ondelete="CASCADE"), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("by_user", sa.String(length=100), nullable=False),
    )
    op.create_index("ix_meeting_extensions_meeting_id", "meeting_extensions", ["meeting_id"])
    op.create_table(
        "meeting_exemptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("meeting_id", sa.Integer(),
                  sa.ForeignKey("meetings.id", ondelete="CASCADE"), nullable=False),
        sa.Column("member_id", sa.Integer(),
                  sa.ForeignKey("members.id", ondelete="CASCADE"), nullable=True),
        sa.Column("device_id", sa.Integer(),
                  sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("withdrawn_at", UTC, nullable=True),
        sa.Column("withdrawn_by", sa.String(length=100), nullable=True),
    )
    op.create_index("ix_meeting_exemptions_meeting_id", "meeting_exemptions", ["meeting_id"])
    op.create_table(
        "refused_names",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.Integer(),
                  sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("first_seen", UTC, nullable=False),
        sa.Column("last_seen", UTC, nullable=False),
        sa.Column("lookups", sa.Integer(), nullable=False),
        sa.UniqueConstraint("device_id", "name"),
    )
    op.create_index("ix_refused_names_device_id", "refused_names", ["device_id"])
    op.create_index("ix_refused_names_last_seen", "refused_names", ["last_seen"])
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("end_guessed", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("end_guessed")
    op.drop_table("refused_names")
    op.drop_table("meeting_exemptions")
    op.drop_table("meeting_extensions")
