"""reviewer lessons: what a reviewer taught the learning models can be taken back

Revision ID: 0021_reviewer_lessons
Revises: 0020_reviewer_sessions
Created: 2026-12-07 03:20:00

``flask --app webapp tagsmith forget --reviewer NAME`` sets ``forgotten_through`` to the newest
review log id: the reviewer's reviews up to it stay, but no worker learns from them. Deactivating a reviewer does
the same for all their reviews, without a column.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_reviewer_lessons"
down_revision = "0020_reviewer_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in batch mode: SQLite would copy the table, and other tables' foreign keys point at it.
    op.add_column("reviewers", sa.Column("forgotten_through", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("reviewers", "forgotten_through")  # SQLite 3.35+ drops a column in place
