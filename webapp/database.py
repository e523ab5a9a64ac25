"""Binding the database: SQLite in the instance folder by default, any URL by DATABASE_URL.

SQLite is set up for several gunicorn workers writing at once: WAL lets readers work while
one writer commits, and the busy timeout makes a second writer wait its turn instead of
failing with "database is locked".
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import scoped_session

from . import tables  # noqa: F401  (registers the tables before create_all)
from .extensions import db

BUSY_TIMEOUT_S = 30


def init_app(app: Flask) -> None:
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {}).setdefault("timeout", BUSY_TIMEOUT_S)
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
        create_schema()


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


def create_schema(attempts: int = 5) -> None:
    """Create missing tables. Two workers starting together can both see a table missing
    and race to create it; the loser simply looks again."""
    for attempt in range(attempts):
        try:
            db.create_all()
            return
        except DBAPIError:
            db.session.rollback()
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))


@contextmanager
def transaction() -> Iterator[scoped_session]:
    """Commit what the block changes, or roll all of it back: nothing is half-stored."""
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
