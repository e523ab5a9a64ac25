"""Full-text search over the stored questions, with the same results on SQLite and PostgreSQL.

The rule (docs/using-the-site.md, "Search"):

- A question's words are its title's and body's runs of letters and digits; anything else
  (spaces, punctuation, ``_``, ``#``, ``.``, HTML tags' brackets) separates words, so
  ``node.js`` is the words ``node`` and ``js`` and ``snake_case`` is ``snake`` and ``case``.
- A search's words are found the same way, at most ``MAX_WORDS`` of them. Every one must
  start a word of the title or the body (``pyth`` finds "Python"; words in any order, not
  necessarily next to each other). A word of one or two characters must be a whole word
  (``c`` finds "C#" but not "code", ``js`` finds "node.js"). A search with no letter or
  digit finds nothing.
- Case does not matter, for every alphabet (``über`` finds "Über", ``ΣΊΣΥΦΟΣ`` "σίσυφος").
  Accents do: ``uber`` does not find "Über" (PostgreSQL cannot fold accents in an index
  without the unaccent extension, so neither side does).

SQLite: an FTS5 table with external content (the ``predictions`` rows themselves; it holds
only the index), the ``unicode61`` tokenizer with ``remove_diacritics 0`` and a prefix index
of MIN_PREFIX characters (a short prefix reads one list, not every word it starts), kept in
step by triggers. PostgreSQL: a generated ``tsvector`` column (the ``simple`` configuration: no stop
words, no stemming) over the same words, lower-cased with ICU's root collation when the
server has it (Debian's, the official images' and the managed services' builds do), so that
it does not depend on the database's locale, and a GIN index on it. Migration
``0006_search`` builds both and indexes the rows already there (``0008_history_speed`` adds
SQLite's prefix index); a new database gets them
from ``create_all`` through the ``after_create`` hooks below.

Known differences, all rare in questions: text in decomposed form (a letter followed by a
combining accent) and numerals such as ``²`` or ``½`` are part of a word on SQLite and
separators on PostgreSQL, and PostgreSQL skips words longer than 2,047 bytes.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, column, event, func, literal, literal_column, select, table, text
from sqlalchemy.engine import Connection

MAX_WORDS = 10
# Shorter search words match whole words only: "c" finds C, not every word starting with c
# (a one-letter prefix also costs SQLite a merge of a tenth of the index).
MIN_PREFIX = 3
WORD_RE = re.compile(r"[^\W_]+")

FTS_TABLE = "predictions_search"  # SQLite
TSVECTOR_COLUMN = "search"  # PostgreSQL
TSVECTOR_INDEX = "ix_predictions_search"
ICU_COLLATION = "und-x-icu"
SQLITE_AUTOMERGE = 16

# One statement each, so a migration can run them in order (copied there, not imported:
# a migration keeps meaning what it meant when it was written).
SQLITE_CREATE = [
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(title, body, content='predictions', content_rowid='id', "
    f"tokenize='unicode61 remove_diacritics 0', prefix='{MIN_PREFIX}')",
    f"CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON predictions BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    f"CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON predictions BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); END",
    f"CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF title, body ON predictions BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); "
    f"INSERT INTO {FTS_TABLE}(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    # Merge index segments 16 at a time, not 4 (stored in the index: 0013_search_automerge).
    # Each question is its own small segment; at a million questions the default rewrote big
    # segments so often that inserts were several times slower, for the same search times.
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('automerge', {SQLITE_AUTOMERGE})",
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_update",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_delete",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_insert",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
]


def postgresql_create(collation: str | None) -> list[str]:
    """The generated column and its index; ``collation`` is ICU's root collation where the
    server has it, else None (the database's own: case folding then follows its locale)."""
    collate = f' COLLATE "{collation}"' if collation else ""
    words = f"regexp_replace(lower((title || ' ' || body){collate}), '[^[:alnum:]]+', ' ', 'g')"
    return [
        f"ALTER TABLE predictions ADD COLUMN {TSVECTOR_COLUMN} tsvector "
        f"GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, {words})) STORED",
        f"CREATE INDEX {TSVECTOR_INDEX} ON predictions USING gin ({TSVECTOR_COLUMN})",
    ]


POSTGRESQL_DROP = [f"DROP INDEX IF EXISTS {TSVECTOR_INDEX}", f"ALTER TABLE predictions DROP COLUMN {TSVECTOR_COLUMN}"]


def icu_collation(connection: Connection) -> str | None:
    found = connection.execute(
        text("SELECT collname FROM pg_collation WHERE collname = :name"), {"name": ICU_COLLATION}
    ).scalar()
    return found


def create(connection: Connection) -> None:
    """Build the search index on a database whose ``predictions`` table was just made."""
    if connection.dialect.name == "sqlite":
        statements = SQLITE_CREATE
    elif connection.dialect.name == "postgresql":
        statements = postgresql_create(icu_collation(connection))
    else:
        return
    for statement in statements:
        connection.exec_driver_sql(statement)


def drop(connection: Connection) -> None:
    statements = {"sqlite": SQLITE_DROP, "postgresql": POSTGRESQL_DROP}.get(connection.dialect.name, [])
    for statement in statements:
        connection.exec_driver_sql(statement)


def install(table: Any) -> None:
    """create_all and drop_all build and drop the search index with the table."""
    event.listen(table, "after_create", lambda table, connection, **kw: create(connection))
    event.listen(table, "before_drop", lambda table, connection, **kw: drop(connection))


def words(query: str) -> list[str]:
    """A search's words, lower-cased, in order, without repeats (at most MAX_WORDS)."""
    found = dict.fromkeys(word.lower() for word in WORD_RE.findall(query))
    return list(found)[:MAX_WORDS]


def matches(id_column: Any, dialect: str, query_words: list[str], prefixes: bool = True) -> ColumnElement[bool]:
    """A condition on a ``predictions`` query: every word starts a word of the question (is
    one, when shorter than MIN_PREFIX; ``prefixes=False``: every word is one, a subset).
    ``query_words`` come from ``words`` (letters and digits only: nothing to escape)."""
    if not query_words:
        return literal_column("1") == literal_column("0")
    if dialect == "sqlite":
        return id_column.in_(sqlite_matches(query_words)[0])
    if dialect == "postgresql":
        expression = " & ".join(f"{word}:*" if prefixes and len(word) >= MIN_PREFIX else word for word in query_words)
        tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), literal(expression))
        return literal_column(f"predictions.{TSVECTOR_COLUMN}").op("@@")(tsquery)
    raise NotImplementedError(f"no full-text search on {dialect}")


def sqlite_matches(query_words: list[str]) -> tuple[Select, ColumnElement[int]]:
    """The ids of the questions the words match, read from the FTS5 index (SQLite), and
    their column: ordered by it and bounded on it, the index stops after the rows a page
    needs. ``query_words`` are non-empty, from ``words``."""
    expression = " ".join(f'"{word}"*' if len(word) >= MIN_PREFIX else f'"{word}"' for word in query_words)
    rowid: ColumnElement[int] = table(FTS_TABLE, column("rowid")).c.rowid
    return select(rowid).where(literal_column(FTS_TABLE).op("MATCH")(expression)), rowid


# Autogenerate (and tests/webapp/test_migrations.py) compare the tables the models define with the
# database: the search index is made by hand, outside the models, and is left out of that.
def include_object(obj, name, type_, reflected, compare_to) -> bool:
    if type_ == "table" and name and name.startswith(FTS_TABLE):
        return False
    if type_ == "column" and name == TSVECTOR_COLUMN and getattr(obj, "table", None) is not None:
        return obj.table.name != "predictions"
    return not (type_ == "index" and name == TSVECTOR_INDEX)
