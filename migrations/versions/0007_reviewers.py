"""reviewer accounts, API tokens and an append-only log of reviews

Revision ID: 0007_reviewers
Revises: 0006_search
Created: 2026-11-29 03:00:00

Reviews now record who made them and when: ``reviewers`` (accounts with hashed passwords),
``api_tokens`` (SHA-256 of each token) and the log, ``reviews`` with their
``review_verdicts``. ``reviewed_tags`` and ``predictions.reviewed_at`` stay the current
state, a copy of each question's latest review. Every review already stored goes into the
log as it is, with no reviewer (they were anonymous) and its ``reviewed_at`` as its time,
so the log holds every question's current review from the start.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_reviewers"
down_revision = "0006_search"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

LOG_EXISTING_REVIEWS = [
    "INSERT INTO reviews (prediction_id, reviewer_id, created_at) "
    "SELECT id, NULL, reviewed_at FROM predictions WHERE reviewed_at IS NOT NULL ORDER BY id",
    # The log was empty: each question has exactly one review to join its verdicts to.
    "INSERT INTO review_verdicts (review_id, tag, verdict, position) "
    "SELECT reviews.id, reviewed_tags.tag, reviewed_tags.verdict, reviewed_tags.position "
    "FROM reviewed_tags JOIN reviews ON reviews.prediction_id = reviewed_tags.prediction_id "
    "ORDER BY reviews.id, reviewed_tags.position",
]


def upgrade() -> None:
    op.create_table(
        "reviewers",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("reviewer_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["reviewer_id"], ["reviewers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_api_tokens_reviewer_id", "api_tokens", ["reviewer_id"], unique=False)
    op.create_table(
        "reviews",
        sa.Column("id", ID, nullable=False),
        sa.Column("prediction_id", ID, nullable=False),
        sa.Column("reviewer_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reviewer_id"], ["reviewers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reviews_prediction_id", "reviews", ["prediction_id"], unique=False)
    op.create_index("ix_reviews_reviewer_id", "reviews", ["reviewer_id"], unique=False)
    op.create_table(
        "review_verdicts",
        sa.Column("id", ID, nullable=False),
        sa.Column("review_id", ID, nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["review_id"], ["reviews.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_verdicts_review_id", "review_verdicts", ["review_id"], unique=False)
    for statement in LOG_EXISTING_REVIEWS:
        op.execute(statement)


def downgrade() -> None:
    # The current state (reviewed_tags, reviewed_at) was kept all along; the log and the
    # accounts go.
    op.drop_index("ix_review_verdicts_review_id", table_name="review_verdicts")
    op.drop_table("review_verdicts")
    op.drop_index("ix_reviews_reviewer_id", table_name="reviews")
    op.drop_index("ix_reviews_prediction_id", table_name="reviews")
    op.drop_table("reviews")
    op.drop_index("ix_api_tokens_reviewer_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("reviewers")
