"""answers by model: the history's model filter reads a model's answers in question order

Revision ID: 0016_answers_by_model
Revises: 0015_tag_models
Created: 2026-11-29 16:10:00

The history's filter by a model alone checked each question, newest first, for the model's
answer: for a model that answered few questions its capped count went through the whole
history (0.8 s at a million questions on SQLite for a model with no answer). The index on
(model, prediction_id) gives a model's questions in id order. Unlike the (model, latency)
index that 0014 dropped, a new answer goes at the end of its model's range.
"""

from alembic import op

revision = "0016_answers_by_model"
down_revision = "0015_tag_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_model_answers_model_question", "model_answers", ["model", "prediction_id"])


def downgrade() -> None:
    op.drop_index("ix_model_answers_model_question", table_name="model_answers")
