"""identity sources: devices.identity, members.radius_user / moderngov_id, wifi_keys

Revision ID: 0008_h24_identity_sources
Revises: 0007_event_chain_reports
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0008_h24_identity_sources"
down_revision = "0007_event_chain_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as b:
        b.add_column(sa.Column("identity", sa.String(length=20), nullable=False,
                               server_default="mac-only"))
    with op.batch_alter_table("members") as b:
        b.add_column(sa.Column("radius_user", sa.String(length=253), nullable=True))
        b.add_column(sa.Column("moderngov_id", sa.String(length=40), nullable=True))
        b.create_unique_constraint("uq_members_radius_user", ["radius_user"])
        b.create_unique_constraint("uq_members_moderngov_id", ["moderngov_id"])
    op.create_table(
        "wifi_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(),
                  sa.ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("passphrase", sa.String(length=63), nullable=False),
        sa.Column("created_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", monitor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id"),
        sa.UniqueConstraint("key_id"),
    )
    # Devices registered with a one-time code say so (the code row names the device).
    op.execute("UPDATE devices SET identity = 'registration-code' WHERE id IN "
               "(SELECT device_id FROM registration_codes WHERE device_id IS NOT NULL)")


def downgrade() -> None:
    op.drop_table("wifi_keys")
    with op.batch_alter_table("members") as b:
        b.drop_constraint("uq_members_moderngov_id", type_="unique")
        b.drop_constraint("uq_members_radius_user", type_="unique")
        b.drop_column("moderngov_id")
        b.drop_column("radius_user")
    with op.batch_alter_table("devices") as b:
        b.drop_column("identity")
