"""reviewer sessions: a login cookie stops working when its reviewer logs out

Revision ID: 0020_reviewer_sessions
Revises: 0019_batch_owner
Created: 2026-12-07 01:10:00

The login cookie is signed, not stored: one copied before a logout still worked after it.
Each cookie now names the reviewer's session version, which logging out moves on.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_reviewer_sessions"
down_revision = "0019_batch_owner"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in batch mode: SQLite would copy the table, and other tables' foreign keys point at it.
    op.add_column("reviewers", sa.Column("session_version", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    op.drop_column("reviewers", "session_version")  # SQLite 3.35+ drops a column in place
