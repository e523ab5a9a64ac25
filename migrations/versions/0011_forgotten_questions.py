"""forgotten questions: reviewed questions that were deleted, for every worker to forget

Revision ID: 0011_forgotten_questions
Revises: 0010_stats_over_time
Created: 2026-11-29 06:20:00

A new table (webapp/review/learning.py polls it); no existing table changes. Questions deleted
before this revision were forgotten by the workers of that time when they restarted.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_forgotten_questions"
down_revision = "0010_stats_over_time"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "forgotten_questions",
        sa.Column("id", ID, nullable=False),
        sa.Column("prediction_id", ID, nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_forgotten_questions_deleted_at", "forgotten_questions", ["deleted_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_forgotten_questions_deleted_at", table_name="forgotten_questions")
    op.drop_table("forgotten_questions")
