"""Shared pieces of the website tests: an app on a temporary database, a fake transformer,
and helpers that submit forms the way a browser does (with the CSRF token)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pytest

from ml.predictor import Predictor
from webapp import create_app
from webapp.registry import EXTENSION_KEY

TINY_TAGS = ["c#", "java", "javascript", "python", "sql"]
# The fake transformer's give-away words (a subset of conftest's corpus words).
FAKE_WORDS = {"python": "django", "java": "spring", "javascript": "npm", "c#": "linq", "sql": "join"}


class FakeTransformer(Predictor):
    """Stands in for the transformer, whose real artifact takes a GPU hour to build: scores
    each tag 0.9 when its give-away word is in the text, else 0.05 (0.3 for sql)."""

    name = "transformer"

    def __init__(self, fail: bool = False):
        self.labels = list(TINY_TAGS)
        self.thresholds = np.full(len(self.labels), 0.5)
        self.fail = fail
        self.calls = 0
        self.metadata = {
            "model": "transformer",
            "model_version": "transformer-fake-1",
            "created": "2026-01-02T03:04:05+00:00",
            "labels": list(TINY_TAGS),
            "thresholds": {"global": 0.5},
            "params": {"max_length": 128},
            "metrics": {"test": {"micro_f1": 0.9123, "macro_f1": 0.8765, "precision_at_1": 0.95, "n_samples": 40}},
        }

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.fail:
            raise RuntimeError("onnxruntime exploded")
        scores = np.full((len(texts), len(self.labels)), 0.05)
        for row, text in enumerate(texts):
            lowered = text.lower()
            for column, tag in enumerate(self.labels):
                if FAKE_WORDS[tag] in lowered:
                    scores[row, column] = 0.9
                elif tag == "sql":
                    scores[row, column] = 0.3
        return scores


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
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("flask.Flask.auto_find_instance_path", lambda self: str(tmp_path / "instance"))


def make_app(models_dir, db_path, transformer: Predictor | None = None, **config):
    settings = {
        "TESTING": True,
        "MODELS_DIR": str(models_dir),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "SECRET_KEY": "test-secret",
    }
    settings.update(config)
    app = create_app(settings)
    if transformer is not None:
        app.extensions[EXTENSION_KEY].put("transformer", transformer)
    return app


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


def csrf_token(client, url: str = "/") -> str:
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def ask(client, title: str, body: str = "", model: str = "both", top_k: str = "5", threshold: str = "", **extra):
    data = {
        "csrf_token": csrf_token(client),
        "title": title,
        "body": body,
        "model": model,
        "top_k": top_k,
        "threshold": threshold,
    }
    data.update(extra)
    return client.post("/", data=data)


def asked_id(response) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    match = re.search(r"/history/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def count_rows(app, table) -> int:
    from sqlalchemy import func, select

    from webapp.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(table))


def api_suggest(client, payload, **kwargs):
    return client.post("/api/v1/suggest", json=payload, **kwargs)
