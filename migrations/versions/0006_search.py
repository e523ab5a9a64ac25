"""full-text search over titles and bodies; reviewed questions indexed by id

Revision ID: 0006_search
Revises: 0005_stats
Created: 2026-11-29 01:00:00

SQLite: an FTS5 table with external content on ``predictions`` (unicode61 tokenizer, accents
kept), triggers that keep it in step, and a rebuild that indexes the rows already there.
PostgreSQL: a generated ``tsvector`` column (``simple`` configuration, the text's runs of
letters and digits lower-cased with ICU's root collation where the server has it); adding it
computes it for every row already there (the table is rewritten once), then a GIN index.
Both: a partial index of the reviewed questions' ids (the export and the "reviewed" filter).
See webapp/history/search.py for the rule both follow. Self-contained: the SQL is written out here.
A later migration that copies ``predictions`` on SQLite (batch mode's "move and copy") drops
the triggers with the old table and must make them again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_search"
down_revision = "0005_stats"
branch_labels = None
depends_on = None

FTS = "predictions_search"
SQLITE_CREATE = [
    f"CREATE VIRTUAL TABLE {FTS} USING fts5(title, body, content='predictions', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0')",
    f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON predictions BEGIN "
    f"INSERT INTO {FTS}(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON predictions BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); END",
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF title, body ON predictions BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); "
    f"INSERT INTO {FTS}(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",  # index the rows already there
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {FTS}_update",
    f"DROP TRIGGER IF EXISTS {FTS}_delete",
    f"DROP TRIGGER IF EXISTS {FTS}_insert",
    f"DROP TABLE IF EXISTS {FTS}",
]


def _postgresql_create(collation: str | None) -> list[str]:
    collate = f' COLLATE "{collation}"' if collation else ""
    words = f"regexp_replace(lower((title || ' ' || body){collate}), '[^[:alnum:]]+', ' ', 'g')"
    return [
        "ALTER TABLE predictions ADD COLUMN search tsvector "
        f"GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, {words})) STORED",
        "CREATE INDEX ix_predictions_search ON predictions USING gin (search)",
    ]


POSTGRESQL_DROP = ["DROP INDEX IF EXISTS ix_predictions_search", "ALTER TABLE predictions DROP COLUMN search"]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        statements = SQLITE_CREATE
    elif bind.dialect.name == "postgresql":
        collation = bind.execute(sa.text("SELECT collname FROM pg_collation WHERE collname = 'und-x-icu'")).scalar()
        statements = _postgresql_create(collation)
    else:
        statements = []
    for statement in statements:
        op.execute(statement)
    # Not in batch mode: on SQLite that may copy the table, which would drop the triggers.
    op.create_index(
        "ix_predictions_reviewed_id",
        "predictions",
        ["id"],
        unique=False,
        sqlite_where=sa.text("reviewed_at IS NOT NULL"),
        postgresql_where=sa.text("reviewed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_reviewed_id", table_name="predictions")
    bind = op.get_bind()
    statements = {"sqlite": SQLITE_DROP, "postgresql": POSTGRESQL_DROP}.get(bind.dialect.name, [])
    for statement in statements:
        op.execute(statement)
