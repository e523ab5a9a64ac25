"""schema as create_all made it before migrations

Revision ID: 0001_initial
Revises:
Created: 2026-11-22 20:23:11.980447
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("top_k", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_predictions_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_predictions_reviewed_at"), ["reviewed_at"], unique=False)

    op.create_table(
        "model_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prediction_id", "model"),
    )
    with op.batch_alter_table("model_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_answers_model"), ["model"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_answers_prediction_id"), ["prediction_id"], unique=False)

    op.create_table(
        "reviewed_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prediction_id", "tag"),
    )
    with op.batch_alter_table("reviewed_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reviewed_tags_prediction_id"), ["prediction_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reviewed_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "suggested_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["answer_id"], ["model_answers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("suggested_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suggested_tags_answer_id"), ["answer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_suggested_tags_tag"), ["tag"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("suggested_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggested_tags_tag"))
        batch_op.drop_index(batch_op.f("ix_suggested_tags_answer_id"))

    op.drop_table("suggested_tags")
    with op.batch_alter_table("reviewed_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reviewed_tags_tag"))
        batch_op.drop_index(batch_op.f("ix_reviewed_tags_prediction_id"))

    op.drop_table("reviewed_tags")
    with op.batch_alter_table("model_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_answers_prediction_id"))
        batch_op.drop_index(batch_op.f("ix_model_answers_model"))

    op.drop_table("model_answers")
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_predictions_reviewed_at"))
        batch_op.drop_index(batch_op.f("ix_predictions_created_at"))

    op.drop_table("predictions")
