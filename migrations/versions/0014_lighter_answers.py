"""lighter answers: the two indexes written at a random place by every stored answer go

Revision ID: 0014_lighter_answers
Revises: 0013_search_automerge
Created: 2026-11-29 13:30:00

Every suggestion inserts its answers' rows inside SQLite's write lock. Most of their indexes
grow at one end (ids, times), but two took an entry in the middle of a big b-tree for every
row, a page the cache rarely held on a large history:
- ``ix_suggested_tags_tag``: only the history's tag-and-model filter read it. That filter now
  starts from question_tags, which holds every question a model suggested the tag for, and
  checks the model's answer by question (also faster: 0-150 ms against 300-1,700 ms at a
  million questions).
- ``ix_model_answers_model_latency``: /stats read each latency percentile's exact value from
  it. It now shows the latency histogram's bucket (three significant digits, rounded down).
At a million questions under gunicorn, suggest's throughput went from 88% to 95% of an
empty database's (bench/history_scale.py's machine, one run of both side by side).
"""

from alembic import op

revision = "0014_lighter_answers"
down_revision = "0013_search_automerge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_suggested_tags_tag", table_name="suggested_tags")
    op.drop_index("ix_model_answers_model_latency", table_name="model_answers")


def downgrade() -> None:
    op.create_index("ix_model_answers_model_latency", "model_answers", ["model", "latency_ms"])
    op.create_index("ix_suggested_tags_tag", "suggested_tags", ["tag"])
