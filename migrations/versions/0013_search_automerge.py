"""search automerge: SQLite's full-text index merges its segments 16 at a time

Revision ID: 0013_search_automerge
Revises: 0012_leaner_writes
Created: 2026-11-29 09:10:00

SQLite only (PostgreSQL's GIN index has no such setting). FTS5 stores the setting in the
index itself; new databases get it from webapp/history/search.py. Every stored question writes a
small segment, and with FTS5's default of 4 the merges kept rewriting the big segments of a
large history: at a million questions an insert took 0.70 ms on average and 35 ms at p99,
against 0.13 and 2.8 ms with 16, with the same search times.
"""

from alembic import op

revision = "0013_search_automerge"
down_revision = "0012_leaner_writes"
branch_labels = None
depends_on = None

FTS = "predictions_search"


def _automerge(segments: int) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"INSERT INTO {FTS}({FTS}, rank) VALUES ('automerge', {segments})")


def upgrade() -> None:
    _automerge(16)


def downgrade() -> None:
    _automerge(4)  # FTS5's default
