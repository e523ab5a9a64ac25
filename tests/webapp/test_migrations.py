"""Schema migrations (Alembic through Flask-Migrate): a database made by the code before
migrations existed, and one made by the code of revision 0002 (32-bit keys) on SQLite and on
PostgreSQL, keep every row and reach the head; a new database made in one step matches what
the migrations build.

The 0002 fixtures were made by the site's own code at commit fb36600 (create_app, then rows
through its tables): ``schema_0002.sqlite3`` is that SQLite file, ``schema_0002.postgresql.sql``
is ``pg_dump --inserts`` of that PostgreSQL database.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.helpers.support import api_suggest, make_app
from webapp.core.database import SchemaOutOfDate, head_revision
from webapp.core.extensions import db
from webapp.history.search import TSVECTOR_COLUMN, include_object

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OLD_DATABASE = FIXTURES / "pre_migrations.sqlite3"
SCHEMA_0002 = {"sqlite": FIXTURES / "schema_0002.sqlite3", "postgresql": FIXTURES / "schema_0002.postgresql.sql"}
TABLES = ("predictions", "model_answers", "suggested_tags", "reviewed_tags")
# As migrations/env.py: the full-text index is made by hand, not from the models.
COMPARE = {"include_object": include_object}


def load_schema_0002(backend: str, url: str) -> None:
    """Fill the empty database at ``url`` with what the code of revision 0002 stored."""
    if backend == "sqlite":
        shutil.copy(SCHEMA_0002["sqlite"], make_url(url).database)
        return
    # pg_dump's psql meta-commands (\restrict) are not SQL; the rest runs as one script.
    script = "\n".join(line for line in SCHEMA_0002["postgresql"].read_text().splitlines() if not line.startswith("\\"))
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(script.encode())


def table_rows(url: str) -> dict[str, list[tuple]]:
    """Every row of the site's tables, less the search index's generated column (PostgreSQL)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = {}
            for table in TABLES:
                columns = [column["name"] for column in inspect(connection).get_columns(table)]
                listed = ", ".join(name for name in columns if name != TSVECTOR_COLUMN)
                rows[table] = [
                    tuple(row) for row in connection.execute(text(f"SELECT {listed} FROM {table} ORDER BY id"))
                ]
            return rows
    finally:
        engine.dispose()


def test_a_database_made_by_the_revision_0002_code_keeps_every_row(trained_models, backend, new_database):
    url = new_database(empty=True)
    load_schema_0002(backend, url)
    before = table_rows(url)
    assert [len(before[table]) for table in TABLES] == [2, 2, 3, 2]

    app = make_app(trained_models / "models", url)
    after = table_rows(url)
    assert after == before
    with app.app_context():
        assert db.session.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        columns = {
            (table, column["name"]): column["type"].__visit_name__
            for table in TABLES
            for column in inspect(db.engine).get_columns(table)
            if column["name"] in ("id", "prediction_id", "answer_id")
        }
        if backend == "postgresql":
            assert set(columns.values()) == {"BIGINT"}, columns
            sequences = db.session.execute(
                text("SELECT sequence_name, data_type FROM information_schema.sequences ORDER BY 1")
            ).all()
            old_sequences = [sequence for sequence in sequences if sequence[0].removesuffix("_id_seq") in TABLES]
            assert old_sequences == [(f"{table}_id_seq", "bigint") for table in sorted(TABLES)]
            # Every id sequence is 64-bit, the later tables' (reviews, batch jobs...) too.
            assert {data_type for _, data_type in sequences} == {"bigint"}
            assert {"batch_jobs_id_seq", "reviews_id_seq"} <= {name for name, _ in sequences}
        else:
            # INTEGER PRIMARY KEY: the 64-bit rowid, numbered by SQLite itself.
            assert set(columns.values()) == {"INTEGER"}, columns
    client = app.test_client()
    old = client.get("/api/v1/predictions/2").get_json()
    assert old["answers"]["ensemble"]["tags"] == [{"tag": "java", "score": 0.31, "confident": False}]
    reviewed = client.get("/api/v1/predictions/1").get_json()
    assert reviewed["review"]["accepted"] == ["python"]
    # Migration 0007 logged the review already there: anonymous, at its time.
    assert reviewed["reviews"] == [
        {
            "id": 1,
            "reviewer": None,
            "reviewed_at": "2026-11-24T08:00:00Z",
            "accepted": ["python"],
            "rejected": ["dictionary"],
            "added": [],
            "tags": ["python"],
        }
    ]
    assert reviewed["review"]["reviewer"] is None
    assert client.get("/api/v1/predictions/2").get_json()["reviews"] == []

    # New rows carry on after the old ones, and past 2**31.
    response = api_suggest(client, {"title": "python django pip question"})
    assert response.status_code == 201 and response.get_json()["id"] == 3
    with app.app_context():
        if backend == "postgresql":
            db.session.execute(text("SELECT setval('predictions_id_seq', :id)"), {"id": 2**40})
        else:  # SQLite numbers a row one past the largest rowid
            db.session.execute(
                text(
                    "INSERT INTO predictions (id, title, body, created_at, source, top_k) "
                    "VALUES (:id, 'x', '', :now, 'api', 1)"
                ),
                {"id": 2**40, "now": "2026-11-24 00:00:00"},
            )
        db.session.commit()
    response = api_suggest(client, {"title": "java spring maven question"})
    assert response.status_code == 201 and response.get_json()["id"] == 2**40 + 1
    assert client.get(f"/api/v1/predictions/{2**40 + 1}").get_json()["title"] == "java spring maven question"
    assert table_rows(url)["predictions"][:2] == before["predictions"]


def rows(path, sql):
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def test_a_database_from_before_migrations_keeps_every_row(tmp_path):
    path = tmp_path / "old.sqlite3"
    shutil.copy(OLD_DATABASE, path)
    assert rows(path, "SELECT name FROM sqlite_master WHERE name = 'alembic_version'") == []
    before = {table: rows(path, f"SELECT * FROM {table} ORDER BY id") for table in ("predictions", "reviewed_tags")}

    app = make_app(tmp_path / "no-models", path)
    assert rows(path, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    for table, old in before.items():
        assert rows(path, f"SELECT * FROM {table} ORDER BY id") == old
    # The new column reads as the old site showed every tag: confident.
    assert rows(path, "SELECT tag, score, confident FROM suggested_tags ORDER BY id") == [
        ("python", 0.93, 1),
        ("dictionary", 0.41, 1),
        ("java", 0.88, 1),
    ]
    data = app.test_client().get("/api/v1/predictions/1").get_json()
    assert data["title"] == "How do I merge two dicts in python?" and data["review"]["accepted"] == ["python"]
    assert data["answers"]["baseline"]["tags"][0] == {"tag": "python", "score": 0.93, "confident": True}
    make_app(tmp_path / "no-models", path)  # a second start finds the head and changes nothing
    assert rows(path, "SELECT count(*) FROM predictions") == [(2,)]


def test_migrations_build_exactly_the_tables_the_models_define(tmp_path):
    """An empty database is made with create_all and stamped: only right if the migrations
    build the same schema, which this checks by running them on an old database."""
    path = tmp_path / "migrated.sqlite3"
    shutil.copy(OLD_DATABASE, path)
    app = make_app(tmp_path / "no-models", path)
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts=COMPARE), db.metadata)
    assert differences == []


def test_migrations_from_revision_0002_build_the_tables_the_models_define(tmp_path, backend, new_database):
    url = new_database(empty=True)
    load_schema_0002(backend, url)
    app = make_app(tmp_path / "no-models", url)
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts=COMPARE), db.metadata)
    assert differences == []


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_64_bit_keys_migrate_down_and_up_again_keeping_rows(tmp_path, backend, new_database):
    import flask_migrate

    url = new_database(empty=True)
    load_schema_0002(backend, url)
    before = table_rows(url)
    app = make_app(tmp_path / "no-models", url)
    with app.app_context():
        flask_migrate.downgrade(revision="0002_confident")
        assert inspect(db.engine).get_columns("predictions")[0]["type"].__visit_name__ == "INTEGER"
        flask_migrate.upgrade()
        assert inspect(db.engine).get_columns("predictions")[0]["type"].__visit_name__ == "BIGINT"
    assert table_rows(url) == before


def test_flask_db_upgrade_migrates_an_old_database(tmp_path):
    path = tmp_path / "old.sqlite3"
    shutil.copy(OLD_DATABASE, path)
    environment = dict(os.environ, DATABASE_URL=f"sqlite:///{path}", TAGSMITH_PRELOAD_MODELS="0")
    command = [sys.executable, "-m", "flask", "--app", "webapp", "db", "current"]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert head_revision() in result.stdout  # creating the app upgraded it; `flask db` sees the head


def test_flask_db_upgrade_on_each_back_end(backend, new_database):
    url = new_database(empty=True)
    load_schema_0002(backend, url)
    environment = dict(os.environ, DATABASE_URL=url, TAGSMITH_PRELOAD_MODELS="0")
    command = [sys.executable, "-m", "flask", "--app", "webapp", "db", "upgrade"]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert table_rows(url)["predictions"][0][1] == "How do I merge two dicts in python?"
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
    engine.dispose()


def test_workers_starting_together_on_an_empty_database_all_start(backend, new_database, tmp_path):
    """gunicorn starts every worker at once, and each migrates: one does, the others wait
    and find the head (once, on SQLite, a second worker stamped the first revision over the
    head and died re-running migrations)."""
    url = new_database(empty=True)
    start = tmp_path / "go"
    script = (
        "import os, sys, time\n"
        "from webapp import create_app\n"
        f"open(os.path.join({str(tmp_path)!r}, 'ready-' + sys.argv[1]), 'w').close()\n"
        f"while not os.path.exists({str(start)!r}): time.sleep(0.002)\n"
        "create_app({'TESTING': True, 'PRELOAD_MODELS': False, 'SECRET_KEY': 'x', 'MODELS_DIR': 'none'})\n"
    )
    environment = dict(os.environ, DATABASE_URL=url)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(number)],
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for number in range(3)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < len(workers) and time.monotonic() < deadline:
        time.sleep(0.01)  # every worker has imported the site before any looks at the database
    start.touch()
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * len(workers), "\n".join(errors)[-3000:]
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
    engine.dispose()


def test_a_worker_that_may_not_migrate_refuses_an_old_schema_until_it_is_upgraded(
    trained_models, backend, new_database
):
    # gunicorn's workers start with MIGRATE_ON_START off (the master migrated before them).
    url = new_database(empty=True)
    load_schema_0002(backend, url)
    before = table_rows(url)
    with pytest.raises(SchemaOutOfDate, match="db upgrade"):
        make_app(trained_models / "models", url, MIGRATE_ON_START=False)
    assert table_rows(url) == before  # checked, not touched

    make_app(trained_models / "models", url)  # what the master does: upgrade
    app = make_app(trained_models / "models", url, MIGRATE_ON_START=False)
    assert app.test_client().get("/history/").status_code == 200


def test_reviewed_questions_are_found_by_time_from_an_index_without_the_unreviewed_ones(
    tmp_path, backend, new_database
):
    """0012_leaner_writes: the review-time index leaves out the unreviewed questions (one
    b-tree less per suggestion) and still serves live learning's catch-up; the answers'
    single-column indexes that repeated longer ones are gone."""
    url = new_database(empty=True)
    load_schema_0002(backend, url)
    app = make_app(tmp_path / "no-models", url)
    catch_up = "SELECT id FROM predictions WHERE reviewed_at >= '2026-01-01' ORDER BY reviewed_at, id"
    with app.app_context(), db.engine.connect() as connection:
        indexes = {index["name"]: index for index in inspect(connection).get_indexes("predictions")}
        answers = {index["name"] for index in inspect(connection).get_indexes("model_answers")}
        if backend == "sqlite":
            where = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'ix_predictions_reviewed_at'"))
            plan = " ".join(str(row[-1]) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {catch_up}")))
        else:
            where = connection.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_predictions_reviewed_at'")
            )
            connection.execute(text("SET enable_seqscan = off"))  # two rows: only an unusable index loses to a scan
            plan = " ".join(row[0] for row in connection.execute(text(f"EXPLAIN {catch_up}")))
        assert "reviewed_at IS NOT NULL" in where.scalar_one()
    assert "ix_predictions_reviewed_at" in indexes and "ix_predictions_reviewed_at" in plan, plan
    assert answers.isdisjoint({"ix_model_answers_prediction_id", "ix_model_answers_model"}), answers


def test_sqlite_full_text_index_merges_16_segments_at_a_time_when_made_or_migrated(tmp_path):
    """0013_search_automerge: FTS5 keeps the setting in the index itself, so both a new
    database and one migrated from 0002 must carry it."""
    made = tmp_path / "made.sqlite3"
    make_app(tmp_path / "no-models", made)
    migrated = tmp_path / "migrated.sqlite3"
    shutil.copy(SCHEMA_0002["sqlite"], migrated)
    make_app(tmp_path / "no-models", migrated)
    for path in (made, migrated):
        assert rows(path, "SELECT v FROM predictions_search_config WHERE k = 'automerge'") == [(16,)], path
