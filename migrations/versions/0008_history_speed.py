"""the questions under each tag; SQLite's search index with 3-letter prefixes

Revision ID: 0008_history_speed
Revises: 0006_search
Created: 2026-11-29 03:00:00

``question_tags``: each (tag, question) pair where a model suggested the tag for the question
or its review marked the tag right (accepted or added), filled here from the rows already
stored with one set-based INSERT; the history's tag filter reads a tag's questions, newest
first, from its primary key (webapp/history/tag_index.py keeps it in step with each write).
SQLite: the FTS5 table is made again with a prefix index of 3 characters and rebuilt, so a
short prefix such as ``pro`` reads one list instead of merging every word that starts so;
the triggers are made again with it. ``ix_predictions_id``: the ids alone, which an offset
page (``?page=N``) skips through on SQLite instead of the table's rows.
``ix_reviewed_tags_right``: the questions with a right tag, for the exportable count.
Self-contained: the SQL is written out here.

Cost at a million questions (bench/history_scale.py's data, a busy 2-core machine): 302 s on
SQLite, 60 s on PostgreSQL (README, "After migration 0008_history_speed"). It runs before
the workers start (gunicorn.conf.py), not inside a worker's boot timeout.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_history_speed"
down_revision = "0007_reviewers"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PAIRS = (
    "INSERT INTO question_tags (tag, prediction_id)"
    " SELECT s.tag, a.prediction_id FROM suggested_tags s JOIN model_answers a ON a.id = s.answer_id"
    " UNION SELECT tag, prediction_id FROM reviewed_tags WHERE verdict != 'rejected'"
)
FTS = "predictions_search"


def _sqlite_search(prefix: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {FTS}_update",
        f"DROP TRIGGER IF EXISTS {FTS}_delete",
        f"DROP TRIGGER IF EXISTS {FTS}_insert",
        f"DROP TABLE IF EXISTS {FTS}",
        f"CREATE VIRTUAL TABLE {FTS} USING fts5(title, body, content='predictions', content_rowid='id', "
        f"tokenize='unicode61 remove_diacritics 0'{prefix})",
        f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON predictions BEGIN "
        f"INSERT INTO {FTS}(rowid, title, body) VALUES (new.id, new.title, new.body); END",
        f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON predictions BEGIN "
        f"INSERT INTO {FTS}({FTS}, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); END",
        f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF title, body ON predictions BEGIN "
        f"INSERT INTO {FTS}({FTS}, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); "
        f"INSERT INTO {FTS}(rowid, title, body) VALUES (new.id, new.title, new.body); END",
        f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
    ]


def upgrade() -> None:
    op.create_table(
        "question_tags",
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("prediction_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tag", "prediction_id"),
    )
    op.execute(PAIRS)
    op.create_index("ix_question_tags_prediction_id", "question_tags", ["prediction_id"], unique=False)
    op.create_index("ix_predictions_id", "predictions", ["id"], unique=False)
    op.create_index(
        "ix_reviewed_tags_right",
        "reviewed_tags",
        ["prediction_id"],
        unique=False,
        sqlite_where=sa.text("verdict != 'rejected'"),
        postgresql_where=sa.text("verdict != 'rejected'"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in _sqlite_search(", prefix='3'"):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _sqlite_search(""):
            op.execute(statement)
    op.drop_index("ix_reviewed_tags_right", table_name="reviewed_tags")
    op.drop_index("ix_predictions_id", table_name="predictions")
    op.drop_index("ix_question_tags_prediction_id", table_name="question_tags")
    op.drop_table("question_tags")
