"""Reviewed questions from the site's database, as training questions with complete labels.

A reviewer decided on every suggested tag and added the missing ones, so a reviewed
question's right tags (accepted + added) are its whole tag set: it trains like a question
of a complete-label source. Reviewed questions join the *train* part only. Held-out parts
stay exactly the questions earlier versions were scored on, so the test figures of two
versions compare like with like, and a reviewed title that is also a held-out question is
dropped rather than leaked into training. A reviewed copy of a training question replaces
it: the reviewer's tags are the newer truth.

Only ``right_tags_by_question`` knows how verdicts are stored; the rest reads its answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ml.data.records import Question
from ml.data.sources import Source, normalised_title, write_jsonl
from ml.data.split import Split, data_hash
from ml.errors import DataError
from ml.paths import display_path

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ml.training.from_file import Dataset

ACCEPTED, ADDED = "accepted", "added"
SOURCE_NAME = "reviews"


def right_tags(verdicts: Iterable[tuple[str, str]]) -> list[str]:
    """Accepted suggestions, then the tags the reviewer added (as ``Prediction.right_tags``)."""
    marked = list(verdicts)
    return [tag for tag, verdict in marked if verdict == ACCEPTED] + [
        tag for tag, verdict in marked if verdict == ADDED
    ]


def right_tags_by_question(connection: Connection) -> dict[int, list[str]]:
    """The right tags of every reviewed question, by question id."""
    from sqlalchemy import text

    rows = connection.execute(
        text(
            "SELECT r.prediction_id, r.tag, r.verdict FROM reviewed_tags r"
            " JOIN predictions p ON p.id = r.prediction_id AND p.reviewed_at IS NOT NULL"
            " WHERE r.verdict IN (:accepted, :added)"
            # A review by a deactivated reviewer, or one whose lessons were forgotten, teaches nothing.
            " AND NOT EXISTS (SELECT 1 FROM reviews l JOIN reviewers v ON v.id = l.reviewer_id"
            " WHERE l.id = (SELECT MAX(n.id) FROM reviews n WHERE n.prediction_id = p.id)"
            " AND (NOT v.active OR l.id <= COALESCE(v.forgotten_through, 0)))"
            " ORDER BY r.prediction_id, r.position"
        ),
        {"accepted": ACCEPTED, "added": ADDED},
    )
    verdicts: dict[int, list[tuple[str, str]]] = {}
    for prediction_id, tag, verdict in rows:
        verdicts.setdefault(prediction_id, []).append((tag, verdict))
    return {prediction_id: right_tags(marked) for prediction_id, marked in verdicts.items()}


def reviewed_questions(database: Any) -> list[Question]:
    """Each reviewed question with at least one right tag, oldest first. ``database``: a
    SQLAlchemy URL (``DATABASE_URL``) or an engine."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import Engine
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        engine = database if isinstance(database, Engine) else create_engine(_sqlalchemy_url(str(database)))
    except (ArgumentError, ValueError) as error:
        raise DataError(f"--with-reviews needs a database URL such as sqlite:///site.sqlite3 ({error})") from None
    try:
        with engine.connect() as connection:
            tags = right_tags_by_question(connection)
            found = connection.execute(
                text("SELECT id, title, body FROM predictions WHERE reviewed_at IS NOT NULL ORDER BY id")
            )
            questions = [
                Question(title, tuple(tags[row_id]), body or "") for row_id, title, body in found if row_id in tags
            ]
    except SQLAlchemyError as error:
        shown = engine.url.render_as_string(hide_password=True)
        cause = getattr(error, "orig", None) or error
        raise DataError(f"cannot read the reviewed questions from {shown}: {cause}") from None
    finally:
        if engine is not database:
            engine.dispose()
    return questions


def _sqlalchemy_url(url: str) -> str:
    # Heroku-style URLs, as webapp.core.config accepts them.
    return "postgresql" + url[len("postgres") :] if url.startswith("postgres://") else url


def hidden_password(url: str) -> str:
    """The URL as a rebuild command may record it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(_sqlalchemy_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def snapshot(questions: list[Question], folder: Path) -> Source:
    """The reviewed questions as a file (named by their hash, so the same reviews are one
    file) and the corpus source that reads it: complete labels, training only."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"reviews-{data_hash(questions)[:12]}.jsonl"
    if not path.exists():
        write_jsonl(questions, path)
    return Source(SOURCE_NAME, display_path(path.resolve()), "jsonl", "all", "train")


def add_to_dataset(dataset: Dataset, questions: list[Question]) -> dict[str, int]:
    """The fixed-vocabulary data set (the baseline's) with the reviewed questions in its
    train part, deduplicated by normalised title as the corpus is. Tags outside the
    vocabulary are ignored as they are for every question of that data set."""
    held_out = {
        normalised_title(dataset.questions[i].title)
        for part in ("validation", "test")
        for i in getattr(dataset.split, part)
    }
    train_row = {normalised_title(dataset.questions[i].title): int(i) for i in dataset.split.train}
    vocabulary = set(dataset.labels)
    counts = {"reviewed": len(questions), "held_out_dropped": 0, "replaced": 0, "added": 0, "no_known_tag": 0}
    extra: list[Question] = []
    seen: set[str] = set()
    for question in questions:
        key = normalised_title(question.title)
        if key in held_out:
            counts["held_out_dropped"] += 1
        elif not vocabulary.intersection(question.tags):
            counts["no_known_tag"] += 1
        elif key in train_row:
            dataset.questions[train_row[key]] = question
            counts["replaced"] += 1
        elif key not in seen:
            seen.add(key)
            extra.append(question)
    first = len(dataset.questions)
    dataset.questions.extend(extra)
    counts["added"] = len(extra)
    split = dataset.split
    dataset.split = Split(
        train=np.concatenate([split.train, np.arange(first, first + len(extra))]).astype(split.train.dtype),
        validation=split.validation,
        test=split.test,
        data_hash=data_hash(dataset.questions),
        seed=split.seed,
        fractions=split.fractions,
    )
    dataset.selection = dict(dataset.selection, reviews=counts)
    return counts
