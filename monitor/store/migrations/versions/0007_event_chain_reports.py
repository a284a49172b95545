"""events: hash chain (prev_hash, hash), chain head/anchor, purge markers, issued-report register

Revision ID: 0007_event_chain_reports
Revises: 0006_member_registration_codes

Events written before this revision stay unchained (``hash`` NULL); ``event_chain.legacy_max_id``
records where they end so ``chamberguard verify-chain`` can tell them from a row slipped in
later. See monitor/evidence/chain.py.
"""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0007_event_chain_reports"
down_revision = "0006_member_registration_codes"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))

    chain = op.create_table(
        "event_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_event_id", sa.Integer(), nullable=False),
        sa.Column("legacy_max_id", sa.Integer(), nullable=False),
        sa.Column("started_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    legacy = op.get_bind().execute(sa.text("SELECT max(id) FROM events")).scalar() or 0
    now = datetime.now(UTC)
    op.bulk_insert(chain, [{"id": 1, "head_hash": GENESIS, "anchor_hash": GENESIS,
                            "anchor_event_id": 0, "legacy_max_id": int(legacy),
                            "started_at": now, "updated_at": now}])

    op.create_table(
        "evidence_purges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ts", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("events_cutoff", monitor.store.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.Column("events_deleted", sa.Integer(), nullable=False),
        sa.Column("first_event_id", sa.Integer(), nullable=True),
        sa.Column("last_event_id", sa.Integer(), nullable=True),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.Column("late_events_kept", sa.Integer(), nullable=False),
        sa.Column("reports_cutoff", monitor.store.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.Column("reports_deleted", sa.Integer(), nullable=False),
        sa.Column("devices_deleted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "reports_issued",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("generated_at", monitor.store.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.Column("generated_by", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("chain_event_id", sa.Integer(), nullable=True),
        sa.Column("chain_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reports_issued_generated_at", "reports_issued", ["generated_at"])


def downgrade() -> None:
    op.drop_index("ix_reports_issued_generated_at", table_name="reports_issued")
    op.drop_table("reports_issued")
    op.drop_table("evidence_purges")
    op.drop_table("event_chain")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
