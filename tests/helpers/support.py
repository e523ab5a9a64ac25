"""Helpers shared by the tests (fixtures live in conftest.py): a tiny labelled corpus, an app
on a temporary database, a fake transformer, and helpers that submit forms the way a browser
does (with the CSRF token)."""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import re
from collections.abc import Sequence

import numpy as np

from ml.predictor import Predictor
from webapp import create_app
from webapp.ask.serving import EXTENSION_KEY

# Every test that stores anything runs on both: through the app fixtures of conftest.py, or by
# asking for ``new_database`` (or ``backend``) itself.
BACKENDS = ["sqlite", "postgresql"]
APPS: list = []  # every app make_app built whose connections no test has closed yet


class Databases:
    """Fresh empty databases for one test (or one module), each dropped afterwards."""

    def __init__(self, request, backend: str, folder):
        # The session's PostgreSQL server is started by the first test that needs one.
        self.backend = backend
        self.folder = folder
        self.cluster = request.getfixturevalue("postgres") if backend == "postgresql" else None
        self.made: list[str] = []
        self._numbers = itertools.count(1)

    def __call__(self, empty: bool = False) -> str:
        """A URL. SQLite: a new file. PostgreSQL: a new database with the site's tables at
        the newest migration (as the site would make them), or with nothing when ``empty``."""
        if self.cluster is None:
            url = f"sqlite:///{self.folder}/db-{next(self._numbers)}.sqlite3"
        else:
            url = self.cluster.create_database() if empty else self.cluster.create_migrated_database()
        self.made.append(url)
        return url

    def close(self) -> None:
        """Close the connections the test's apps hold on these databases (the databases
        themselves go with the cluster at the end of the session)."""
        from webapp.core.extensions import db

        for app in [app for app in APPS if app.config["SQLALCHEMY_DATABASE_URI"] in self.made]:
            APPS.remove(app)
            with app.app_context(), contextlib.suppress(Exception):
                db.engine.dispose()


# Each tag has words that give it away; questions mix one or two tags, so a model that
# learns anything at all separates them, and one that learns nothing does not.
TAG_WORDS = {
    "python": ["django", "pip", "list comprehension", "pandas dataframe", "virtualenv"],
    "java": ["jvm", "spring", "hashmap", "maven", "arraylist"],
    "javascript": ["dom", "node.js", "promise", "npm", "callback"],
    "c#": ["linq", "asp.net-mvc", ".net", "visual studio", "wpf"],
    "sql": ["select", "join", "index", "query", "postgres"],
}
FILLER = ["how to", "why does", "best way to", "error when", "cannot", "using", "with", "fast"]


def make_questions(n: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    tags = sorted(TAG_WORDS)
    rows = []
    for _ in range(n):
        chosen = rng.sample(tags, 2 if rng.random() < 0.3 else 1)
        words = [rng.choice(FILLER)] + [rng.choice(TAG_WORDS[tag]) for tag in chosen] + [rng.choice(FILLER)]
        rows.append((" ".join(words), chosen))
    return rows


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


def make_app(models_dir, database, transformer: Predictor | None = None, **config):
    """The site on ``database``: a SQLite file's path, or any URL (the ``new_database``
    fixture makes one on the test's back-end)."""
    settings = {
        "TESTING": True,
        "MODELS_DIR": str(models_dir),
        "SQLALCHEMY_DATABASE_URI": database if isinstance(database, str) else f"sqlite:///{database}",
        "SECRET_KEY": "test-secret",
    }
    settings.update(config)
    app = create_app(settings)
    APPS.append(app)
    if transformer is not None:
        app.extensions[EXTENSION_KEY].put("transformer", transformer)
    return app


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

    from webapp.core.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(table))


def api_suggest(client, payload, **kwargs):
    return client.post("/api/v1/suggest", json=payload, **kwargs)


class StubModel(Predictor):
    """A third model kind for the registry tests: scores each tag 0.8 when its give-away word
    is in the text. Registered only inside those tests, through ml.registry alone."""

    name = "stub"

    def __init__(self, labels: Sequence[str] = TINY_TAGS, metadata: dict | None = None):
        self.labels = list(labels)
        self.thresholds = np.full(len(self.labels), 0.5)
        self.metadata = metadata or {"model": "stub", "model_version": "stub-1", "labels": self.labels}

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        words = [FAKE_WORDS.get(tag, "\0") for tag in self.labels]
        return np.array([[0.8 if word in text.lower() else 0.1 for word in words] for text in texts])

    @classmethod
    def load(cls, folder, options=None):
        metadata = json.loads((folder / "metadata.json").read_text())
        return cls(metadata["labels"], metadata)

    @classmethod
    def train(cls, dataset, options):
        from ml.training.from_file import evaluate_scores

        model = cls(dataset.labels)
        scores = model.predict_scores(dataset.texts("test"))
        metrics = evaluate_scores(dataset.targets("test"), scores, model.thresholds, model.labels)
        metadata = dict(model.metadata, model_version="stub-trained", metrics={"test": metrics})
        options.output.mkdir(parents=True, exist_ok=True)
        (options.output / "metadata.json").write_text(json.dumps(metadata))
        return metadata


REVIEWER, REVIEWER_PASSWORD = "ada", "correct horse battery"


def add_reviewer(app, name: str = REVIEWER, password: str = REVIEWER_PASSWORD) -> str:
    """A new reviewer on the app's database, made as ``flask reviewer create`` makes one."""
    from webapp.auth.cli import create_reviewer

    with app.app_context():
        create_reviewer(name, password)
    return name


def api_token(app, name: str = REVIEWER) -> str:
    """A new API token for the reviewer ``name``, as ``flask reviewer token`` prints it."""
    from sqlalchemy import select

    from webapp.auth.login import new_token
    from webapp.core.extensions import db
    from webapp.core.tables import Reviewer

    with app.app_context():
        return new_token(db.session.scalar(select(Reviewer).where(Reviewer.name == name)))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def log_in(client, name: str = REVIEWER, password: str = REVIEWER_PASSWORD, next_url: str = ""):
    """Log ``client`` in through the login form, as a browser does."""
    data = {"csrf_token": csrf_token(client, "/login"), "name": name, "password": password, "next": next_url}
    return client.post("/login", data=data)


def reviewer_client(app, name: str = REVIEWER):
    """A client logged in as a new reviewer ``name`` that also sends that reviewer's API token:
    it may review, export and delete through the pages and the API."""
    add_reviewer(app, name)
    client = app.test_client()
    response = log_in(client, name)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_token(app, name)}"
    return client
