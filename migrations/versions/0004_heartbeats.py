"""a heartbeat row the readiness check rewrites

Revision ID: 0004_heartbeats
Revises: 0003_bigint_keys
Created: 2026-11-24 00:21:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_heartbeats"
down_revision = "0003_bigint_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("beat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("heartbeats")
