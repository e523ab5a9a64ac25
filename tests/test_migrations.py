"""Schema migrations (Alembic through Flask-Migrate): a database made by the code before
migrations existed keeps every row and gains the new columns; a new database made in one
step matches what the migrations build."""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.support import make_app
from webapp.database import head_revision
from webapp.extensions import db

OLD_DATABASE = Path(__file__).parent / "fixtures" / "pre_migrations.sqlite3"


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
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []


def test_flask_db_upgrade_migrates_an_old_database(tmp_path):
    path = tmp_path / "old.sqlite3"
    shutil.copy(OLD_DATABASE, path)
    environment = dict(os.environ, DATABASE_URL=f"sqlite:///{path}", TAGSMITH_PRELOAD_MODELS="0")
    command = [sys.executable, "-m", "flask", "--app", "webapp", "db", "current"]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert head_revision() in result.stdout  # creating the app upgraded it; `flask db` sees the head
