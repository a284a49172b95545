"""IT-added platform domains (merged with the shipped catalogue by policy_loader)

Revision ID: 0002_it_platform_domains
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0002_it_platform_domains"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("created_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain"),
    )
    with op.batch_alter_table("platform_domains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_platform_domains_platform"), ["platform"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("platform_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_platform_domains_platform"))
    op.drop_table("platform_domains")
