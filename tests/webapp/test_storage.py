"""Storage that fails for real: a read-only, locked or full SQLite file, a PostgreSQL server
that stops and comes back, a statement past its timeout. Each is a 503 with Retry-After (JSON
under /api/, a page elsewhere) that names no URL, SQL or file, and nothing stored is lost.
Liveness and readiness are checked beside them."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from ml.registry import model_names
from tests.helpers.support import api_suggest, ask, count_rows, csrf_token, make_app
from webapp import create_app
from webapp.core.errors import STORAGE_RETRY_AFTER_S
from webapp.core.extensions import db
from webapp.core.tables import Heartbeat, Question

READY = {
    "status": "ok",
    "database": "ok",
    "models": {name: "loaded" if name == "baseline" else "unavailable" for name in model_names()},
}


def assert_storage_503(response, *secrets: str) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(STORAGE_RETRY_AFTER_S)
    body = response.get_data(as_text=True)
    if response.mimetype == "application/problem+json":
        assert response.get_json()["status"] == 503 and "try again" in response.get_json()["detail"]
    else:
        assert "Storage unavailable" in body and 'class="site-header"' in body
    for secret in ("SELECT", "INSERT", "sqlite", "postgresql", "Traceback", *secrets):
        assert secret not in body, secret


def titles(client) -> list[str]:
    return [item["title"] for item in client.get("/api/v1/predictions?per_page=100").get_json()["items"]]


def test_liveness_and_readiness(app):
    client = app.test_client()
    assert client.get("/healthz/live").get_json() == {"status": "ok"}
    response = client.get("/healthz/ready")
    assert response.status_code == 200 and response.get_json() == READY
    assert client.get("/healthz").get_json() == READY
    with app.app_context():  # readiness committed a write
        assert db.session.get(Heartbeat, 1).beat_at is not None


def test_without_a_model_the_site_is_up_but_not_ready(tmp_path, new_database):
    client = make_app(tmp_path / "no-models", new_database()).test_client()
    assert client.get("/healthz/live").status_code == 200
    response = client.get("/healthz/ready")
    assert response.status_code == 503 and response.get_json()["status"] == "degraded"
    assert client.get("/healthz").status_code == 200  # as before: degraded, still serving pages


def test_a_read_only_sqlite_file_is_a_503_and_keeps_its_rows(trained_models, tmp_path):
    path = tmp_path / "site.sqlite3"
    writable = make_app(trained_models / "models", path)
    assert api_suggest(writable.test_client(), {"title": "python django pip question"}).status_code == 201
    # The same file opened read-only: every write fails inside SQLite, reads work.
    app = make_app(trained_models / "models", f"sqlite:///file:{path}?mode=ro&uri=true")
    client = app.test_client()
    assert_storage_503(api_suggest(client, {"title": "java spring maven question"}), str(tmp_path))
    assert_storage_503(ask(client, "java spring maven question", model="baseline"), str(tmp_path))
    assert titles(client) == ["python django pip question"]
    assert client.get("/history/").status_code == 200
    ready = client.get("/healthz/ready")
    assert ready.status_code == 503 and ready.get_json()["database"] == "error"
    assert client.get("/healthz").status_code == 503
    assert client.get("/healthz/live").status_code == 200
    assert count_rows(writable, Question) == 1


def test_a_locked_sqlite_file_is_a_503_then_works_again(trained_models, tmp_path):
    path = tmp_path / "site.sqlite3"
    app = make_app(trained_models / "models", path, SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 0.2}})
    client = app.test_client()
    assert api_suggest(client, {"title": "python django pip question"}).status_code == 201
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    try:
        assert_storage_503(api_suggest(client, {"title": "java spring maven question"}), str(tmp_path))
        assert client.get("/healthz/ready").status_code == 503
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert api_suggest(client, {"title": "sql join index question"}).status_code == 201
    assert titles(client) == ["sql join index question", "python django pip question"]
    assert client.get("/healthz/ready").status_code == 200


def test_a_full_sqlite_database_is_a_503_and_stores_nothing_half(trained_models, tmp_path):
    app = make_app(trained_models / "models", tmp_path / "site.sqlite3", BODY_MAX_CHARS=200_000)
    client = app.test_client()
    assert api_suggest(client, {"title": "python django pip question"}).status_code == 201
    with app.app_context():
        pages = db.session.execute(text("PRAGMA page_count")).scalar()

        @event.listens_for(db.engine, "connect")
        def no_room_to_grow(connection, _record):  # SQLite's own "database or disk is full"
            connection.execute(f"PRAGMA max_page_count = {pages}")

        db.engine.dispose()
    body = "<p>" + "a long body that needs new pages " * 3000 + "</p>"
    assert_storage_503(api_suggest(client, {"title": "java spring maven question", "body": body}), str(tmp_path))
    assert titles(client) == ["python django pip question"]
    assert count_rows(app, Question) == 1


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_postgresql_restart_is_a_503_while_down_and_no_error_after(request, trained_models, new_database):
    cluster = request.getfixturevalue("postgres")
    if not cluster.owned:
        pytest.skip("the server comes from TAGSMITH_TEST_POSTGRES_URL: not ours to stop")
    app = make_app(trained_models / "models", new_database())
    client = app.test_client()
    assert api_suggest(client, {"title": "python django pip question"}).status_code == 201
    form = {"csrf_token": csrf_token(client), "title": "java spring maven question", "model": "baseline", "top_k": "5"}
    cluster.stop_server()
    try:
        secret = make_url(cluster.admin_url).host
        assert_storage_503(api_suggest(client, {"title": "java spring maven question"}), secret)
        assert_storage_503(client.get("/api/v1/predictions"), secret)
        assert_storage_503(client.get("/history/"), secret)
        assert_storage_503(client.get("/"), secret)  # the ask page lists the latest questions
        assert_storage_503(client.post("/", data=form), secret)
        ready = client.get("/healthz/ready")
        assert ready.status_code == 503 and ready.get_json()["database"] == "error"
        assert client.get("/healthz/live").status_code == 200
    finally:
        cluster.start_server()
    assert api_suggest(client, {"title": "sql join index question"}).status_code == 201
    # A restart between two requests: the pooled connection died with the server, and the
    # ping before handing it out replaces it, so the first request after the restart works.
    cluster.stop_server()
    cluster.start_server()
    assert api_suggest(client, {"title": "c# linq wpf question"}).status_code == 201
    assert titles(client) == ["c# linq wpf question", "sql join index question", "python django pip question"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_statement_past_the_timeout_is_a_503(trained_models, monkeypatch, new_database):
    monkeypatch.setenv("TAGSMITH_STATEMENT_TIMEOUT_MS", "150")
    app = create_app(
        {
            "TESTING": True,
            "MODELS_DIR": str(trained_models / "models"),
            "SQLALCHEMY_DATABASE_URI": new_database(),
            "SECRET_KEY": "x",
        }
    )

    @app.get("/api/v1/slow")
    def slow():
        db.session.execute(text("SELECT pg_sleep(2)"))
        return {}

    with app.app_context():
        assert db.session.execute(text("SHOW statement_timeout")).scalar() == "150ms"
    assert_storage_503(app.test_client().get("/api/v1/slow"), "pg_sleep")


def test_database_settings(tmp_path, monkeypatch):
    assert create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/a.db"}).config[
        "SQLALCHEMY_ENGINE_OPTIONS"
    ] == {"pool_pre_ping": True, "connect_args": {"timeout": 30}}
    from webapp.core import config

    assert config.from_environment({})["STATEMENT_TIMEOUT_MS"] == 5000
    assert config.from_environment({"TAGSMITH_STATEMENT_TIMEOUT_MS": "0"})["STATEMENT_TIMEOUT_MS"] is None
    with pytest.raises(config.ConfigError, match="TAGSMITH_STATEMENT_TIMEOUT_MS"):
        config.from_environment({"TAGSMITH_STATEMENT_TIMEOUT_MS": "soon"})


def test_postgresql_gets_the_statement_and_connect_timeouts(monkeypatch):
    """The URL's own options are kept and win; nothing connects here."""
    from webapp.core import database

    captured = {}
    monkeypatch.setattr(database.db, "init_app", lambda app: captured.update(app.config["SQLALCHEMY_ENGINE_OPTIONS"]))
    monkeypatch.setattr(database.migrate, "init_app", lambda *args, **kwargs: None)

    class Stop(Exception):
        pass

    monkeypatch.setattr(database.Flask, "app_context", lambda self: (_ for _ in ()).throw(Stop()), raising=False)
    from flask import Flask

    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://u@db.invalid/x?options=-c%20search_path%3Dtags",
        STATEMENT_TIMEOUT_MS=2500,
    )
    with pytest.raises(Stop):
        database.init_app(app)
    assert captured == {
        "pool_pre_ping": True,
        "connect_args": {"connect_timeout": 5, "options": "-c statement_timeout=2500 -c search_path=tags"},
    }


def test_a_query_bug_is_still_a_500(trained_models, tmp_path):
    app = make_app(trained_models / "models", tmp_path / "db.sqlite3", PROPAGATE_EXCEPTIONS=False)

    @app.get("/api/v1/bug")
    def bug():
        raise IntegrityError("INSERT INTO secret", {}, Exception("UNIQUE constraint failed"))

    response = app.test_client().get("/api/v1/bug")
    assert response.status_code == 500 and "Retry-After" not in response.headers
    assert "secret" not in response.get_data(as_text=True)
