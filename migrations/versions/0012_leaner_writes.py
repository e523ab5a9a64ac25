"""leaner writes: two redundant indexes on model_answers go, reviewed_at's index is partial

Revision ID: 0012_leaner_writes
Revises: 0011_forgotten_questions
Created: 2026-11-29 08:40:00

Every suggestion inserts a question and its answers; each index is one more b-tree written
per row, and on a large history each costs a page the cache may not hold.
- ``ix_model_answers_prediction_id`` repeats the first column of the unique (prediction_id,
  model) index, which serves the same lookups (and the cascade from predictions);
  ``ix_model_answers_model`` repeats the first column of (model, latency_ms).
- ``ix_predictions_reviewed_at`` held every question, 90% of them with no review; every
  query on it asks for reviewed ones (``IS NOT NULL`` or a time), which both databases read
  from a partial index.
At a million stored questions (SQLite) this took the insert of an answer from 0.074-0.096 ms
to 0.043, and of a question from 0.19-0.20 ms to 0.16 (bench/history_scale.py's machine).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_leaner_writes"
down_revision = "0011_forgotten_questions"
branch_labels = None
depends_on = None

REVIEWED = sa.text("reviewed_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_model_answers_prediction_id", table_name="model_answers")
    op.drop_index("ix_model_answers_model", table_name="model_answers")
    op.drop_index("ix_predictions_reviewed_at", table_name="predictions")
    op.create_index(
        "ix_predictions_reviewed_at",
        "predictions",
        ["reviewed_at"],
        sqlite_where=REVIEWED,
        postgresql_where=REVIEWED,
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_reviewed_at", table_name="predictions")
    op.create_index("ix_predictions_reviewed_at", "predictions", ["reviewed_at"])
    op.create_index("ix_model_answers_model", "model_answers", ["model"])
    op.create_index("ix_model_answers_prediction_id", "model_answers", ["prediction_id"])
