"""suggested tags say whether they passed their threshold

Revision ID: 0002_confident
Revises: 0001_initial
Created: 2026-11-22 20:23:27.100662
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_confident"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("suggested_tags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confident", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("suggested_tags", schema=None) as batch_op:
        batch_op.drop_column("confident")
