"""Live learning: every saved review teaches the models that learn (the memory, and the
ensemble through it) at once, in every worker, with no retraining and no restart.

Each worker holds its own memory. At start it replays every saved review (oldest first);
the worker that saves a review calls ``learn_review`` after the commit; every worker calls
``catch_up`` before it predicts, which asks the database for reviews saved since it last
looked (one query on the indexed ``reviewed_at``) and learns those it has not seen, after
forgetting the reviewed questions deleted since (``forgotten_questions``, which
``review.delete_question`` writes). The reviews themselves stay in the database: nothing here
writes anything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import Flask, current_app
from sqlalchemy import func, select

from ml.text import question_text

from .extensions import db
from .serving import models
from .tables import ACCEPTED, ADDED, REJECTED, ForgottenQuestion, Prediction, ReviewedTag
from .tables import Review as ReviewLog

EXTENSION_KEY = "tagsmith.learning"
log = logging.getLogger(__name__)
# reviewed_at is set before the commit and kept to the second: a review that commits late
# may carry a time just before the newest one already learned, so each poll looks back this
# far and skips what it has seen.
LOOK_BACK = timedelta(seconds=5)
REPLAY_CHUNK = 1000


class Review(NamedTuple):
    question: int
    reviewed_at: datetime
    tags: tuple[str, ...]  # the right tags: accepted and added
    text: str
    shown: tuple[str, ...] = ()  # the suggested tags the reviewer judged: accepted and rejected
    log_id: int | None = None  # the newest entry of the question's review log

    @property
    def version(self) -> Version:
        return (self.reviewed_at, self.log_id)


# Which review of a question: reviewed_at is kept to the second, so two reviews of one question
# within a second differ only by the id of their entry in the review log.
Version = tuple[datetime, int | None]


class Learner:
    """What one worker has learned: the reviews fed to each learning model it serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fed: dict[int, Any] = {}  # id(model) -> model, each replayed in full once
        self._since: datetime | None = None  # the newest reviewed_at learned
        self._seen: dict[int, Version] = {}  # reviews inside the look-back
        self._deleted_since: datetime | None = None  # the newest deletion forgotten
        self._deletions: dict[int, datetime] = {}  # forgotten_questions rows inside the look-back

    def learners(self) -> list[Any]:
        """The distinct learning models this worker serves: the memory, and the ensemble's
        memory member (the same object when both load from the same folder)."""
        found: dict[int, Any] = {}
        for state in models().states():
            predictor = state.predictor
            if predictor is None or not predictor.grows_labels:
                continue
            candidates = [predictor, *getattr(predictor, "members", {}).values()]
            for model in candidates:
                if hasattr(model, "add_many"):
                    found.setdefault(id(model), model)
        return list(found.values())

    def catch_up(self) -> int:
        """Learn every review saved since the last look, and replay the whole history into a
        learning model loaded since; returns how many reviews were learned."""
        with self._lock:
            current = self.learners()
            fresh = [model for model in current if id(model) not in self._fed]
            learned = 0
            if fresh:
                learned += self._replay(fresh)
                self._fed.update((id(model), model) for model in fresh)
            old = [model for model in current if model not in fresh]
            if old:
                self._forget_deleted(old)  # first: a review of a question given a deleted one's id counts
                reviews = [review for review in self._recent() if self._is_new(review)]
                learned += _teach(old, reviews)
                self._remember(reviews)
            self._fed = {id(model): model for model in current}  # a model no longer served is let go
            return learned

    def learn_review(self, prediction_id: int) -> None:
        """After a review of ``prediction_id`` commits: learn it now (with anything else new),
        so the very next suggestion in this worker counts it."""
        with self._lock:
            review = _read_reviews([prediction_id])
            fed = [model for model in self.learners() if id(model) in self._fed]
            if review and fed:
                _teach(fed, review)
                self._remember(review)
        self.catch_up()

    def forget(self, prediction_id: int) -> None:
        """After a question is deleted: this worker's learning models stop voting with it at
        once; the others do when they next catch up (``forgotten_questions``)."""
        with self._lock:
            self._forget([*self.learners()], prediction_id)

    def _forget(self, models: list[Any], prediction_id: int) -> None:
        for model in models:
            if hasattr(model, "remove"):
                model.remove(prediction_id)
        self._seen.pop(prediction_id, None)

    def _forget_deleted(self, models: list[Any]) -> None:
        """Forget the reviewed questions deleted since the last look (by any worker)."""
        query = select(ForgottenQuestion.id, ForgottenQuestion.prediction_id, ForgottenQuestion.deleted_at)
        if self._deleted_since is not None:
            query = query.where(ForgottenQuestion.deleted_at >= self._deleted_since - LOOK_BACK)
        for row in db.session.execute(query.order_by(ForgottenQuestion.deleted_at, ForgottenQuestion.id)):
            if row.id not in self._deletions:
                self._forget(models, row.prediction_id)
            self._note_deletion(row.id, row.deleted_at)

    def _note_deletion(self, deletion: int, deleted_at: datetime) -> None:
        self._deletions[deletion] = deleted_at
        if self._deleted_since is None or deleted_at > self._deleted_since:
            self._deleted_since = deleted_at
            horizon = deleted_at - 2 * LOOK_BACK
            self._deletions = {d: at for d, at in self._deletions.items() if at >= horizon}

    def _replay(self, fresh: list[Any]) -> int:
        if not self._fed:  # deletions so far left nothing to replay: polling starts after them
            self._forget_deleted([])
        reviews: list[Review] = []
        query = (
            select(Prediction.id)
            .where(Prediction.reviewed_at.is_not(None))
            .order_by(Prediction.reviewed_at, Prediction.id)
        )
        ids = list(db.session.scalars(query))
        for start in range(0, len(ids), REPLAY_CHUNK):
            reviews.extend(_read_reviews(ids[start : start + REPLAY_CHUNK]))
        learned = _teach(fresh, reviews)
        if not self._fed:  # the first replay sets where polling starts
            self._remember(reviews)
        return learned

    def _recent(self) -> list[Review]:
        """The reviews saved since the last look that this worker has not learned: the
        versions of the reviews inside the look-back first (one indexed query, a row or two),
        then only the unseen ones read whole."""
        query = select(Prediction.id, Prediction.reviewed_at, _newest_log_entry()).order_by(
            Prediction.reviewed_at, Prediction.id
        )
        if self._since is None:
            query = query.where(Prediction.reviewed_at.is_not(None))
        else:
            query = query.where(Prediction.reviewed_at >= self._since - LOOK_BACK)
        unseen = [row.id for row in db.session.execute(query) if self._seen.get(row.id) != (row[1], row[2])]
        return _read_reviews(unseen) if unseen else []

    def _is_new(self, review: Review) -> bool:
        return self._seen.get(review.question) != review.version

    def _remember(self, reviews: Iterable[Review]) -> None:
        for review in reviews:
            self._seen[review.question] = review.version
            if self._since is None or review.reviewed_at > self._since:
                self._since = review.reviewed_at
        if self._since is not None:
            horizon = self._since - 2 * LOOK_BACK
            self._seen = {q: seen for q, seen in self._seen.items() if seen[0] >= horizon}


def _read_reviews(ids: list[int]) -> list[Review]:
    """The reviews of these questions as they are now, in the order of ``ids``: each right
    tags (accepted and added) and the tags it judged (accepted and rejected), read in one
    query for the questions and one for the tags."""
    rows = db.session.execute(
        select(
            Prediction.id,
            Prediction.title,
            Prediction.body,
            Prediction.reviewed_at,
            _newest_log_entry().label("log_id"),
        ).where(Prediction.id.in_(ids))
    ).all()
    right: dict[int, list[str]] = {}
    shown: dict[int, list[str]] = {}
    tag_rows = db.session.execute(
        select(ReviewedTag.prediction_id, ReviewedTag.tag, ReviewedTag.verdict)
        .where(ReviewedTag.prediction_id.in_(ids))
        .order_by(ReviewedTag.prediction_id, ReviewedTag.position)
    ).all()
    for question, tag, verdict in tag_rows:
        if verdict in (ACCEPTED, ADDED):
            right.setdefault(question, []).append(tag)
        if verdict in (ACCEPTED, REJECTED):
            shown.setdefault(question, []).append(tag)
    by_id = {row.id: row for row in rows if row.reviewed_at is not None}
    return [
        Review(
            i,
            by_id[i].reviewed_at,
            tuple(right.get(i, ())),
            question_text(by_id[i].title, by_id[i].body),
            tuple(shown.get(i, ())),
            by_id[i].log_id,
        )
        for i in ids
        if i in by_id
    ]


def _newest_log_entry() -> Any:
    """The id of the question's newest review log entry (None for reviews from before the log)."""
    return select(func.max(ReviewLog.id)).where(ReviewLog.prediction_id == Prediction.id).scalar_subquery()


def _teach(targets: list[Any], reviews: list[Review]) -> int:
    if not reviews or not targets:
        return 0
    items = [(review.text, list(review.tags), review.question, list(review.shown)) for review in reviews]
    for model in targets:
        model.add_many(items)
    return len(items)


def learner() -> Learner:
    return current_app.extensions[EXTENSION_KEY]


def catch_up() -> None:
    """Before a prediction: learn what other workers saved. A database that cannot answer
    must not stop the prediction: the next one tries again."""
    try:
        learner().catch_up()
    except Exception:
        log.exception("catching up with saved reviews failed")
        db.session.rollback()


def learn_review(prediction_id: int) -> None:
    """After a review commits (web form or API): the worker that saved it learns it now."""
    try:
        learner().learn_review(prediction_id)
    except Exception:  # the review is saved; the next catch_up learns it
        log.exception("learning review %d failed", prediction_id)
        db.session.rollback()


def forget_question(prediction_id: int) -> None:
    """After a question's deletion commits."""
    try:
        learner().forget(prediction_id)
    except Exception:
        log.exception("forgetting question %d failed", prediction_id)


def init_app(app: Flask) -> Learner:
    """Replay every saved review before the first request (with the models preloaded)."""
    app.extensions[EXTENSION_KEY] = found = Learner()
    if app.config.get("PRELOAD_MODELS", True):
        with app.app_context():
            catch_up()
    return found
