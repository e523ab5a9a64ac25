import csv
import os
import signal

import pytest

from tests.helpers.postgres import Cluster, Unavailable
from tests.helpers.support import BACKENDS, Databases, FakeTransformer, make_app, make_questions, reviewer_client


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
        "TAGSMITH_LOGIN_LIMIT",
        "TAGSMITH_PREVIEW_LIMIT",
        "TAGSMITH_PREVIEW_MODEL",
        "TAGSMITH_RATELIMIT_STORAGE",
        "TAGSMITH_PROXIES",
        "TAGSMITH_TRUSTED_HOSTS",
        "RENDER_EXTERNAL_HOSTNAME",
        "TAGSMITH_CORS_ORIGINS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("flask.Flask.auto_find_instance_path", lambda self: str(tmp_path / "instance"))


@pytest.fixture(scope="session")
def postgres():
    """The PostgreSQL server of the whole run: the one TAGSMITH_TEST_POSTGRES_URL names, else
    a throwaway cluster started now (tests/helpers/postgres.py) and stopped and deleted at the end,
    whatever the tests did. Where none can be had the PostgreSQL variants skip, except under
    CI=true, where they fail: CI must not pass without having run them."""
    cluster = Cluster.from_environment()
    if cluster is None:
        try:
            cluster = Cluster.start()
        except Unavailable as error:
            message = f"PostgreSQL variants cannot run: {error}"
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(f"{message} (CI=true: the PostgreSQL tests must run)", pytrace=False)
            pytest.skip(message)
    # A CI job that times out sends SIGTERM, which would end pytest without its finalizers:
    # as an interrupt, pytest stops the run and still stops and deletes the cluster.
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield cluster
    finally:
        cluster.stop()
        if previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def new_database(request, backend, tmp_path):
    """Call it for a new empty database on this test's back-end (a URL for make_app)."""
    databases = Databases(request, backend, tmp_path)
    yield databases
    databases.close()


@pytest.fixture
def app(trained_models, new_database):
    """The site with the tiny baseline and no transformer artifact, on each back-end."""
    return make_app(trained_models / "models", new_database())


@pytest.fixture
def app_both(trained_models, new_database):
    """The site with the tiny baseline and the fake transformer, on each back-end."""
    return make_app(trained_models / "models", new_database(), transformer=FakeTransformer())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def client_both(app_both):
    return app_both.test_client()


@pytest.fixture
def reviewer(app):
    """A client on ``app`` logged in as the reviewer "ada", sending ada's API token too."""
    return reviewer_client(app)


@pytest.fixture
def reviewer_both(app_both):
    """The same on ``app_both``."""
    return reviewer_client(app_both)
