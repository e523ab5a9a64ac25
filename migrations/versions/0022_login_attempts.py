"""login attempts: the login limit counted in the database, across workers

Revision ID: 0022_login_attempts
Revises: 0021_reviewer_lessons
Created: 2026-12-07 03:30:00

Each worker counted login attempts in its own memory: with two workers a guesser got twice
``TAGSMITH_LOGIN_LIMIT``. One row per client address holds its attempts in the current window.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_login_attempts"
down_revision = "0021_reviewer_lessons"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_end", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client"),
    )
    op.create_index(op.f("ix_login_attempts_window_end"), "login_attempts", ["window_end"])


def downgrade() -> None:
    op.drop_index(op.f("ix_login_attempts_window_end"), table_name="login_attempts")
    op.drop_table("login_attempts")
