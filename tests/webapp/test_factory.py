"""The app factory: configuration, storage set-up, model loading, CSRF and error pages."""

import gc
import runpy
import sqlite3
import weakref
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask.cli import ScriptInfo

from ml.errors import ArtifactError, ModelUnavailable
from ml.registry import load_predictor, model_names
from tests.helpers.support import FakeTransformer, ask, count_rows, csrf_token, make_app
from webapp import create_app
from webapp.ask.serving import EXTENSION_KEY
from webapp.core import config as settings
from webapp.core.tables import Question


def test_healthz_reports_database_and_models(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "database": "ok",
        "models": {name: "loaded" if name == "baseline" else "unavailable" for name in model_names()},
    }


def test_healthz_is_degraded_but_up_without_any_model(tmp_path, new_database):
    client = make_app(tmp_path / "no-models", new_database()).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"
    assert response.get_json()["models"] == dict.fromkeys(model_names(), "unavailable")


def test_default_database_is_sqlite_in_wal_mode_in_the_instance_folder(trained_models, tmp_path, monkeypatch):
    app = create_app({"TESTING": True, "MODELS_DIR": str(trained_models / "models")})
    database = tmp_path / "instance" / settings.DATABASE_FILE
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{database}"
    assert database.is_file()
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"predictions", "model_answers", "suggested_tags", "reviewed_tags"} <= tables


def test_secret_key_is_shared_by_every_worker_through_the_instance_folder(tmp_path, monkeypatch):
    config = {
        "TESTING": True,
        "MODELS_DIR": str(tmp_path),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    first, second = create_app(config), create_app(config)
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) == 64
    assert (tmp_path / "instance" / "secret_key").read_text() == first.config["SECRET_KEY"]


def test_environment_configures_database_models_and_limits(trained_models, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/from-env.sqlite3")
    monkeypatch.setenv("TAGSMITH_MODELS_DIR", str(trained_models / "models"))
    monkeypatch.setenv("TAGSMITH_BODY_MAX_CHARS", "100")
    monkeypatch.setenv("SECRET_KEY", "from-env")
    app = create_app({"TESTING": True})
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["BODY_MAX_CHARS"] == 100
    assert (tmp_path / "from-env.sqlite3").is_file()
    assert app.test_client().get("/healthz").get_json()["models"]["baseline"] == "loaded"
    response = ask(app.test_client(), "python django question", body="x" * 101)
    assert response.status_code == 422 and "at most 100 characters" in response.get_data(as_text=True)


def test_bad_settings_fail_at_start_up_with_the_variable_named(monkeypatch, tmp_path):
    monkeypatch.setenv("TAGSMITH_TITLE_MAX_CHARS", "lots")
    with pytest.raises(settings.ConfigError, match="TAGSMITH_TITLE_MAX_CHARS"):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db.sqlite3"})
    monkeypatch.delenv("TAGSMITH_TITLE_MAX_CHARS")
    with pytest.raises(settings.ConfigError, match="TITLE_MIN_CHARS"):
        create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db.sqlite3",
                "TITLE_MIN_CHARS": 50,
                "TITLE_MAX_CHARS": 10,
            }
        )


def test_postgres_urls_from_hosts_get_the_scheme_and_driver_sqlalchemy_needs():
    # psycopg (3) is the driver requirements.txt installs; SQLAlchemy's default is psycopg2.
    assert settings.database_url("postgres://u:p@host/db") == "postgresql+psycopg://u:p@host/db"
    assert settings.database_url("postgresql://u:p@host/db?sslmode=require") == (
        "postgresql+psycopg://u:p@host/db?sslmode=require"
    )
    assert settings.database_url("postgresql+psycopg2://u@host/db") == "postgresql+psycopg2://u@host/db"
    assert settings.database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert settings.database_url("") is None


def test_flask_cli_finds_the_factory(monkeypatch, trained_models, tmp_path):
    """`flask --app webapp run --debug` imports webapp and calls create_app()."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    monkeypatch.setenv("TAGSMITH_MODELS_DIR", str(trained_models / "models"))
    app = ScriptInfo(app_import_path="webapp").load_app()
    assert "ask.ask" in app.view_functions and "api.suggest" in app.view_functions


def test_each_model_loads_once_per_process_not_per_request(trained_models, tmp_path):
    calls = []

    def loader(name, models_dir, options=None):
        calls.append(name)
        return load_predictor(name, models_dir)

    app = make_app(trained_models / "models", tmp_path / "db.sqlite3", MODEL_LOADER=loader)
    client = app.test_client()
    for _ in range(3):
        assert ask(client, "python django list comprehension", model="baseline").status_code == 303
        client.get("/models")
        client.post("/api/v1/suggest", json={"title": "java spring hashmap"})
    assert calls.count("baseline") == 1


def test_a_model_becomes_available_as_soon_as_its_artifact_appears(trained_models, tmp_path):
    models_dir = tmp_path / "models"
    (models_dir / "baseline").mkdir(parents=True)
    attempts = []

    def loader(name, folder, options=None):
        attempts.append(name)
        if name == "transformer" and (models_dir / "transformer" / "metadata.json").is_file():
            return FakeTransformer()
        return load_predictor(name, trained_models / "models" if name == "baseline" else folder)

    app = make_app(models_dir, tmp_path / "db.sqlite3", MODEL_LOADER=loader)
    client = app.test_client()
    assert client.get("/healthz").get_json()["models"]["transformer"] == "unavailable"
    client.get("/healthz")
    assert attempts.count("transformer") == 1  # nothing changed on disk: no second attempt
    (models_dir / "transformer").mkdir()
    (models_dir / "transformer" / "metadata.json").write_text("{}")
    assert client.get("/healthz").get_json()["models"]["transformer"] == "loaded"
    assert "transformer-fake-1" in client.get("/models").get_data(as_text=True)


def test_a_gunicorn_worker_keeps_its_models_out_of_gc_and_reclaims_a_replaced_one(tmp_path, monkeypatch):
    models_dir = tmp_path / "models"
    (models_dir / "transformer").mkdir(parents=True)
    metadata = models_dir / "transformer" / "metadata.json"
    metadata.write_text("{}")
    versions: list[weakref.ref] = []

    def loader(name, folder, options=None):
        if name != "transformer":
            raise ModelUnavailable(f"no {name} here")
        model = FakeTransformer()
        model.itself = model  # a cycle: only a collection that looks at it reclaims it
        versions.append(weakref.ref(model))
        return model

    app = make_app(models_dir, tmp_path / "db.sqlite3", MODEL_LOADER=loader)
    registry = app.extensions[EXTENSION_KEY]
    registry.reload_check_s = 0.0
    monkeypatch.delenv("TAGSMITH_ORT_THREADS", raising=False)  # the config file sets it
    hooks = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    try:
        hooks["post_worker_init"](SimpleNamespace(wsgi=app))
        assert registry.keep_loaded_out_of_gc and gc.get_freeze_count() > 0
        assert registry.state("transformer").predictor is versions[0]()
        metadata.write_text('{"version": 2}')  # a new artifact: the next request swaps it in
        assert registry.state("transformer").predictor is versions[1]()
        assert versions[0]() is None and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the rest of the test run collects as usual


@pytest.mark.parametrize(
    "error", [ArtifactError("weights.npz is corrupt (checksum mismatch)"), OSError("disk on fire")]
)
def test_a_model_that_fails_to_load_is_shown_unavailable_with_its_reason(trained_models, tmp_path, error):
    def loader(name, models_dir, options=None):
        if name == "transformer":
            raise error
        return load_predictor(name, models_dir)

    app = make_app(trained_models / "models", tmp_path / "db.sqlite3", MODEL_LOADER=loader)
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert "Transformer: not available." in page and str(error) in page
    assert str(error) in client.get("/models").get_data(as_text=True)
    models = client.get("/api/v1/models").get_json()["models"]
    assert models[1]["name"] == "transformer" and models[1]["label"] == "Transformer"
    assert set(models[1]) == {"name", "label", "description", "available", "message"} and not models[1]["available"]
    assert str(error) in models[1]["message"]
    assert ask(client, "python django pip").status_code == 303  # the baseline still answers


def test_missing_transformer_artifact_says_so(client):
    message = client.get("/api/v1/models").get_json()["models"][1]["message"]
    models_dir = client.application.config["MODELS_DIR"]
    with pytest.raises(ModelUnavailable) as raised:
        load_predictor("transformer", models_dir)
    # The same words, the server's folder shown as models/ (issue 11: no absolute paths).
    assert message == str(raised.value).replace(models_dir, "models")
    assert "(models/transformer holds no artifact)" in message


def test_forms_need_a_csrf_token(client, app):
    response = client.post("/", data={"title": "python django pip", "model": "baseline", "top_k": "5"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Form expired" in page and "reload the page" in page and 'class="site-header"' in page
    token = csrf_token(client)
    assert (
        client.post("/", data={"csrf_token": token + "x", "title": "python django pip", "top_k": "5"}).status_code
        == 400
    )
    assert count_rows(app, Question) == 0


def test_the_api_is_exempt_from_csrf(client):
    assert client.post("/api/v1/suggest", json={"title": "python django pip"}).status_code == 201


@pytest.mark.parametrize(
    "url, status, words",
    [
        ("/no/such/page", 404, "Page not found"),
        ("/history/12345", 404, "no question #12345"),
        ("/history/export.xml", 404, "export.csv"),
    ],
)
def test_error_pages_are_in_the_site_style(client, url, status, words):
    response = client.get(url)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert words in page and 'class="site-header"' in page and "Traceback" not in page
    assert response.mimetype == "text/html"


def test_method_not_allowed_page(client):
    response = client.delete("/")
    assert response.status_code == 405
    assert "does not accept DELETE" in response.get_data(as_text=True)
    assert "GET" in response.headers["Allow"]


def test_request_too_large_gets_a_413_page(trained_models, tmp_path, new_database):
    app = make_app(trained_models / "models", new_database(), MAX_CONTENT_LENGTH=10_000)
    client = app.test_client()
    token = csrf_token(client)
    response = client.post(
        "/", data={"csrf_token": token, "title": "python django", "body": "x" * 20_000, "top_k": "5"}
    )
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "Too large" in page and "larger than the" in page
    assert count_rows(app, Question) == 0


def test_unexpected_errors_get_a_500_page_without_a_traceback(trained_models, tmp_path):
    app = make_app(trained_models / "models", tmp_path / "db.sqlite3", PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom")
    def boom():
        raise ZeroDivisionError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong" in page and "secret internals" not in page and "Traceback" not in page


def test_html_pages_carry_security_headers(client):
    response = client.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_static_assets_are_local(client):
    page = client.get("/").get_data(as_text=True)
    assert "http://" not in page and "https://" not in page
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200


def test_registry_can_be_given_a_predictor(app):
    fake = FakeTransformer()
    app.extensions[EXTENSION_KEY].put("transformer", fake)
    assert app.test_client().get("/healthz").get_json()["models"]["transformer"] == "loaded"


def test_a_flask_command_builds_the_app_without_loading_models_and_a_server_with_them(monkeypatch):
    import click

    from webapp.core.config import from_environment

    monkeypatch.delenv("TAGSMITH_PRELOAD_MODELS", raising=False)
    assert from_environment({})["PRELOAD_MODELS"] is True  # gunicorn: no command around it
    with click.Context(click.Command("token"), info_name="token"):
        assert from_environment({})["PRELOAD_MODELS"] is False
        assert from_environment({"TAGSMITH_PRELOAD_MODELS": "1"})["PRELOAD_MODELS"] is True
    with click.Context(click.Command("run"), info_name="run"):  # flask run serves
        assert from_environment({})["PRELOAD_MODELS"] is True


def test_a_flask_command_without_database_url_says_which_file_it_uses(monkeypatch):
    from click.testing import CliRunner
    from flask.cli import FlaskGroup

    monkeypatch.delenv("DATABASE_URL", raising=False)
    cli = FlaskGroup(create_app=lambda: create_app({"SECRET_KEY": "x"}))
    result = CliRunner().invoke(cli, ["tagsmith", "init-db"])
    assert result.exit_code == 0, result.output
    assert "No DATABASE_URL" in result.output and "tagsmith.sqlite3" in result.output
    assert "created" in result.output  # it did not exist: the command made it
    again = CliRunner().invoke(cli, ["tagsmith", "init-db"])
    assert "No DATABASE_URL" in again.output and "created" not in again.output.split("\n")[0]
