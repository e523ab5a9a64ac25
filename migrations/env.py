"""Alembic environment: the Flask app's engine and tables (run through Flask-Migrate).

Logging is left as the app set it up (no fileConfig: it would silence existing loggers).
SQLite gets batch mode, since it cannot alter most columns in place.
"""

from alembic import context
from flask import current_app

from webapp.history.search import include_object

config = context.config
database = current_app.extensions["migrate"].db
target_metadata = database.metadata


def run_offline() -> None:
    context.configure(
        url=str(database.engine.url),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    with database.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            # The full-text index is made by hand (webapp/history/search.py), not from the models.
            include_object=include_object,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Rewriting a large table may take longer than the site's statement timeout.
                connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
