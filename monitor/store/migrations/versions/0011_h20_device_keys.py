"""devices.self_key_hash: the secret a phone got when it registered itself

Revision ID: 0011_h20_device_keys
Revises: 0010_h21_overrun_exemptions

The phone's "my devices" page used to trust the MAC alone, which anyone can copy. The page
now also wants the secret set (as a cookie) at registration; only its SHA-256 is kept.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_h20_device_keys"
down_revision = "0010_h21_overrun_exemptions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("self_key_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("self_key_hash")
