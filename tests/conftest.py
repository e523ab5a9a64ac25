import csv

import pytest

from tests.support import FakeTransformer, make_app, make_questions


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "tags"])
        for title, tags in make_questions(400):
            writer.writerow([title, " ".join(tags)])
    return path


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory, tiny_corpus):
    """A models/ folder holding a baseline trained through the CLI on the tiny corpus."""
    from ml.cli import main

    root = tmp_path_factory.mktemp("trained")
    status = main(
        [
            "--quiet",
            "train",
            "--model",
            "baseline",
            "--data",
            str(tiny_corpus),
            "--output",
            str(root / "models" / "baseline"),
            "--splits-dir",
            str(root / "splits"),
            "--min-df",
            "1",
            "--char-ngrams",
            "2-4",
            "--metrics-file",
            str(root / "metrics.json"),
        ]
    )
    assert status == 0
    return root


@pytest.fixture(autouse=True)
def hermetic_site(monkeypatch, tmp_path):
    """No test reads the developer's settings or writes to the repository's instance folder."""
    for name in (
        "DATABASE_URL",
        "SECRET_KEY",
        "TAGSMITH_MODELS_DIR",
        "TAGSMITH_BODY_MAX_CHARS",
        "TAGSMITH_TITLE_MAX_CHARS",
        "TAGSMITH_MAX_REQUEST_BYTES",
        "TAGSMITH_RATE_LIMITS",
        "TAGSMITH_WRITE_LIMIT",
        "TAGSMITH_TEXT_LIMIT",
        "TAGSMITH_RATELIMIT_STORAGE",
        "TAGSMITH_PROXIES",
        "TAGSMITH_TRUSTED_HOSTS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("flask.Flask.auto_find_instance_path", lambda self: str(tmp_path / "instance"))


@pytest.fixture
def app(trained_models, tmp_path):
    """The site with the tiny baseline and no transformer artifact."""
    return make_app(trained_models / "models", tmp_path / "site.sqlite3")


@pytest.fixture
def app_both(trained_models, tmp_path):
    """The site with the tiny baseline and the fake transformer."""
    return make_app(trained_models / "models", tmp_path / "site.sqlite3", transformer=FakeTransformer())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def client_both(app_both):
    return app_both.test_client()
