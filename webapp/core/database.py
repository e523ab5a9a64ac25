"""Binding the database: SQLite in the instance folder by default, any URL by DATABASE_URL.

SQLite is set up for several gunicorn workers writing at once: WAL lets readers work while
one writer commits, and the busy timeout makes a second writer wait its turn instead of
failing with "database is locked". PostgreSQL gets a statement timeout and a connect
timeout, so a stuck server costs a request seconds, not a worker. Every pool pings a
connection before handing it out: after a server restart the first request on each worker
reconnects instead of failing.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import event, insert, inspect, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, scoped_session

from ml.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

from webapp.core import tables  # noqa: F401  (registers the tables with the metadata migrations compare)
from webapp.core.extensions import db, migrate
from webapp.core.tables import Heartbeat

# A session as the ORM hands it out, or the request's scoped one: the writers take either.
AnySession = Session | scoped_session[Any]

BUSY_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 5
READY_TIMEOUT_MS = 2000  # how long the readiness check waits for a lock
HEARTBEAT_ID = 1
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
# The schema as ``create_all`` made it before migrations existed: such a database is
# stamped with this revision, then upgraded like any other.
FIRST_REVISION = "0001_initial"
# Any fixed number: the PostgreSQL advisory lock workers take while migrating.
MIGRATION_LOCK_KEY = 0x7461_6773


def init_app(app: Flask) -> None:
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    options.setdefault("pool_pre_ping", True)
    connect_args = options.setdefault("connect_args", {})
    if url.get_backend_name() == "sqlite":
        connect_args.setdefault("timeout", BUSY_TIMEOUT_S)
    elif url.get_backend_name() == "postgresql":
        if "connect_timeout" not in url.query:
            connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        timeout = app.config.get("STATEMENT_TIMEOUT_MS")
        if timeout:
            # Before any options the URL or the caller gave, so that theirs win.
            given = connect_args.get("options", url.query.get("options", ""))
            connect_args["options"] = f"-c statement_timeout={int(timeout)} {given}".strip()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
        if app.config.get("MIGRATE_ON_START", True):
            upgrade_schema()
        else:
            check_schema()


class SchemaOutOfDate(RuntimeError):
    """The database is not at the code's migration head and this process may not migrate it."""


def check_schema() -> None:
    current, head = current_revision(), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"the database's schema is at {current or 'no revision'}, this code needs {head}: "
            "run `flask --app webapp db upgrade` (gunicorn.conf.py does it before the workers start)"
        )


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Persistent in the file: after the first connection this is a no-op. When another
        # worker holds the file while it switches, its switch serves us too.
        with suppress(sqlite3.OperationalError):
            cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


@lru_cache(maxsize=1)
def scripts() -> ScriptDirectory:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    head = scripts().get_current_head()
    assert head, "migrations/versions holds no revision"
    return head


def current_revision() -> str | None:
    if not inspect(db.engine).has_table("alembic_version"):
        return None
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade_schema(attempts: int = 5) -> None:
    """Bring the database to the newest migration (``flask db upgrade`` does the same).

    A database made before migrations existed is stamped with the first revision, so its
    rows are kept and only the later changes run. Two workers starting together may race
    to migrate; the loser rolls back and looks again, by then at the head.
    """
    with _migration_lock():
        _upgrade_schema(attempts)


@contextmanager
def _migration_lock() -> Iterator[None]:
    """One process migrates while the others wait, then find the head. Without it a worker
    that looks while another is still creating the tables (SQLite's DDL is not
    transactional) sees tables and no version, stamps the first revision over the other's
    head and runs migrations that are already applied."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
        return
    folder = _sqlite_folder()
    if folder is None:
        yield
        return
    # flock on the folder, not the file: closing any other descriptor of the database file
    # would drop the POSIX locks SQLite holds on it.
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _sqlite_folder() -> Path | None:
    """The folder of a SQLite database file, or None (in memory, another database)."""
    if db.engine.dialect.name != "sqlite":
        return None
    name = db.engine.url.database or ""
    name = name.removeprefix("file:")  # a URI filename: sqlite:///file:path?mode=ro&uri=true
    if not name or name == ":memory:" or "mode=memory" in str(db.engine.url):
        return None
    folder = Path(name).resolve().parent
    return folder if folder.is_dir() else None


def _upgrade_schema(attempts: int) -> None:
    import flask_migrate

    for attempt in range(attempts):
        try:
            revision = current_revision()
            if revision == head_revision():
                return
            if revision is None and not inspect(db.engine).has_table("predictions"):
                # An empty database: the tables as the models define them are the head's
                # (tests/webapp/test_migrations.py checks the two agree), made in one step.
                with db.engine.begin() as connection:  # one transaction where DDL is transactional
                    db.metadata.create_all(connection)
                    MigrationContext.configure(connection).stamp(scripts(), "head")
                return
            if revision is None:
                flask_migrate.stamp(str(MIGRATIONS_DIR), FIRST_REVISION)
            flask_migrate.upgrade(str(MIGRATIONS_DIR))
            return
        except DBAPIError:
            db.session.rollback()
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))


def check_writable(timeout_ms: int = READY_TIMEOUT_MS) -> None:
    """Commit a write to the heartbeat row, or raise what the database raised: a readiness
    check that only reads says "ok" while every write fails on a read-only or locked file.
    Waits at most about ``timeout_ms`` for a lock, so a health check answers in time."""
    now = datetime.now(UTC).replace(tzinfo=None)
    sqlite = db.engine.dialect.name == "sqlite"
    with db.engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(timeout_ms)}")
            connection.commit()  # ends the transaction the PRAGMA began
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
                beat = update(Heartbeat).where(Heartbeat.id == HEARTBEAT_ID).values(beat_at=now)
                if connection.execute(beat).rowcount == 0:
                    connection.execute(insert(Heartbeat).values(id=HEARTBEAT_ID, beat_at=now))
        except IntegrityError:
            pass  # another worker inserted the row first: its write went through
        finally:
            if sqlite:
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")


@contextmanager
def transaction() -> Iterator[scoped_session]:
    """Commit what the block changes, or roll all of it back: nothing is half-stored."""
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
