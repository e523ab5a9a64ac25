"""batch files: a job per uploaded file and an item per question in it

Revision ID: 0009_batch_jobs
Revises: 0006_search
Created: 2026-11-29 03:00:00

Two new tables (webapp/batch/jobs.py uses them); no existing table changes, so every row stays
as it was and SQLite never copies ``predictions`` (which would drop its search triggers).
A question a batch stored is linked from its item (``batch_items.prediction_id``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_batch_jobs"
down_revision = "0008_history_speed"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
        sa.Column("id", ID, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("header", sa.Text(), nullable=True),
        sa.Column("models", sa.String(length=200), nullable=False),
        sa.Column("top_k", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("submitted_by", ID, nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_batch_jobs_created_at", "batch_jobs", ["created_at"], unique=False)
    op.create_index("ix_batch_jobs_status_id", "batch_jobs", ["status", "id"], unique=False)
    op.create_table(
        "batch_items",
        sa.Column("id", ID, nullable=False),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("original", sa.Text(), nullable=False),
        sa.Column("prediction_id", ID, nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["batch_jobs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "position"),
    )
    op.create_index("ix_batch_items_prediction_id", "batch_items", ["prediction_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_batch_items_prediction_id", table_name="batch_items")
    op.drop_table("batch_items")
    op.drop_index("ix_batch_jobs_status_id", table_name="batch_jobs")
    op.drop_index("ix_batch_jobs_created_at", table_name="batch_jobs")
    op.drop_table("batch_jobs")
