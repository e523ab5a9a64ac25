"""Live learning: every saved review teaches the models that learn (the memory, and the
ensemble through it) at once, in every worker, with no retraining and no restart.

Each worker holds its own memory. At start it replays every saved review (oldest first);
the worker that saves a review calls ``learn_review`` after the commit; every worker calls
``catch_up`` before it predicts. That reads one number first (``review_changes``, which
every saved review and every deletion of a reviewed question moves); only when it moved does
it ask the database for reviews saved since it last looked (one query on the indexed
``reviewed_at``) and learn those it has not seen, after forgetting the reviewed questions
deleted since (``forgotten_questions``, which ``review.delete_question`` writes). The
reviews themselves stay in the database: nothing here writes anything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from ml.text import question_text
from webapp.ask.serving import models
from webapp.core.catalogue import catalogue_version, new_tag_names
from webapp.core.extensions import db
from webapp.core.tables import (
    ACCEPTED,
    ADDED,
    LESSONS_ROW,
    REJECTED,
    REVIEW_CHANGES_ROW,
    ForgottenQuestion,
    Question,
    Review,
    ReviewChanges,
    ReviewedTag,
    Reviewer,
)
from webapp.review.lessons import lessons_count

EXTENSION_KEY = "tagsmith.learning"
log = logging.getLogger(__name__)
# reviewed_at is set before the commit and kept to the second: a review that commits late
# may carry a time just before the newest one already learned, so each poll looks back this
# far and skips what it has seen.
LOOK_BACK = timedelta(seconds=5)
REPLAY_CHUNK = 1000
_NOT_READ = object()


class Lesson(NamedTuple):
    question: int
    reviewed_at: datetime
    tags: tuple[str, ...]  # the right tags: accepted and added
    text: str
    shown: tuple[str, ...] = ()  # the suggested tags the reviewer judged: accepted and rejected
    # The newest entry of the question's review log: reviewed_at is kept to the second, so two
    # reviews of one question within a second differ only here.
    log_id: int | None = None
    reviewer: int | None = None  # who made it (None: before reviewer accounts)


class _PollWindow:
    """What polls of rows stamped with a time have seen: the newest time, and the rows inside
    the look-back (each key with its time and a version), so a row that committed late is
    still found and a row seen before is not taken again."""

    def __init__(self) -> None:
        self.since: datetime | None = None
        self.seen: dict[int, tuple[datetime, Any]] = {}

    def start(self) -> datetime | None:
        """Where the next poll begins: the look-back before the newest time (None: anywhere)."""
        return None if self.since is None else self.since - LOOK_BACK

    def has(self, key: int, at: datetime, version: Any = None) -> bool:
        return self.seen.get(key) == (at, version)

    def note(self, rows: Iterable[tuple[int, datetime, Any]]) -> None:
        for key, at, version in rows:
            self.seen[key] = (at, version)
            if self.since is None or at > self.since:
                self.since = at
        if self.since is not None:
            horizon = self.since - 2 * LOOK_BACK
            self.seen = {key: seen for key, seen in self.seen.items() if seen[0] >= horizon}


class Learner:
    """What one worker has learned: the reviews fed to each learning model it serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fed: dict[int, Any] = {}  # id(model) -> model, each replayed in full once
        self._reviews = _PollWindow()  # questions by reviewed_at, versioned by their log entry
        self._deletions = _PollWindow()  # forgotten_questions rows by deleted_at
        self._changes: object = _NOT_READ  # tables.ReviewChanges as the last poll found it
        self._lessons: object = _NOT_READ  # ... and its row for whose lessons count
        self._catalogue: object = _NOT_READ  # the catalogue version whose new names were given

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
            if not current:
                self._fed = {}
                return 0
            # Read before the polls: a change that commits during them moves it again.
            changes = _review_changes()
            fresh = [model for model in current if id(model) not in self._fed]
            learned = 0
            if fresh:
                learned += self._replay(fresh)
                self._fed.update((id(model), model) for model in fresh)
                _name_new_tags(fresh, catalogue_version())
            old = [model for model in current if model not in fresh]
            if old and changes != self._changes:
                self._forget_deleted(old)  # first: a review of a question given a deleted one's id counts
                if (lessons := _review_changes(LESSONS_ROW)) != self._lessons:
                    # A reviewer was forgotten, deactivated or made active again: every review
                    # is taught again, as the database now says it counts.
                    reviews = _read_reviews(_reviewed_ids())
                    self._lessons = lessons
                else:
                    reviews = self._recent()
                learned += _teach(old, reviews)
                self._remember(reviews)
                if (version := catalogue_version()) != self._catalogue:  # an import moves changes too
                    _name_new_tags(old, version)
                    self._catalogue = version
            self._changes = changes
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
        self._reviews.seen.pop(prediction_id, None)

    def _forget_deleted(self, models: list[Any]) -> None:
        """Forget the reviewed questions deleted since the last look (by any worker)."""
        query = select(ForgottenQuestion.id, ForgottenQuestion.prediction_id, ForgottenQuestion.deleted_at)
        if (start := self._deletions.start()) is not None:
            query = query.where(ForgottenQuestion.deleted_at >= start)
        rows = db.session.execute(query.order_by(ForgottenQuestion.deleted_at, ForgottenQuestion.id)).all()
        for row in rows:
            if not self._deletions.has(row.id, row.deleted_at):
                self._forget(models, row.prediction_id)
        self._deletions.note((row.id, row.deleted_at, None) for row in rows)

    def _replay(self, fresh: list[Any]) -> int:
        if not self._fed:  # deletions so far left nothing to replay: polling starts after them
            self._forget_deleted([])
            self._lessons = _review_changes(LESSONS_ROW)
        reviews = _read_reviews(_reviewed_ids())
        learned = _teach(fresh, reviews)
        if not self._fed:  # the first replay sets where polling starts
            self._remember(reviews)
        return learned

    def _recent(self) -> list[Lesson]:
        """The reviews saved since the last look that this worker has not learned: the
        versions of the reviews inside the look-back first (one indexed query, a row or two),
        then only the unseen ones read whole."""
        query = select(Question.id, Question.reviewed_at, _newest_log_entry()).order_by(
            Question.reviewed_at, Question.id
        )
        start = self._reviews.start()
        if start is None:
            query = query.where(Question.reviewed_at.is_not(None))
        else:
            query = query.where(Question.reviewed_at >= start)
        unseen = [
            question
            for question, at, log_id in db.session.execute(query)
            if not self._reviews.has(question, at, log_id)
        ]
        return _read_reviews(unseen) if unseen else []

    def _remember(self, reviews: Iterable[Lesson]) -> None:
        self._reviews.note((review.question, review.reviewed_at, review.log_id) for review in reviews)


def _reviewed_ids() -> list[int]:
    """Every reviewed question, oldest review first."""
    query = select(Question.id).where(Question.reviewed_at.is_not(None)).order_by(Question.reviewed_at, Question.id)
    return list(db.session.scalars(query))


def _read_reviews(ids: list[int]) -> list[Lesson]:
    """The reviews of these questions as they are now, in the order of ``ids``, read
    ``REPLAY_CHUNK`` questions at a time."""
    reviews: list[Lesson] = []
    for start in range(0, len(ids), REPLAY_CHUNK):
        reviews.extend(_read_chunk(ids[start : start + REPLAY_CHUNK]))
    return reviews


def _read_chunk(ids: list[int]) -> list[Lesson]:
    """Each review's right tags (accepted and added) and the tags it judged (accepted and
    rejected), read in one query for the questions and one for the tags. A review whose
    reviewer's lessons do not count (``lessons_count``) teaches nothing: it has no right tags."""
    newest = aliased(Review)
    rows = db.session.execute(
        select(
            Question.id,
            Question.title,
            Question.body,
            Question.reviewed_at,
            newest.id.label("log_id"),
            newest.reviewer_id,
            lessons_count(newest).label("counts"),
        )
        .outerjoin(newest, newest.id == _newest_log_entry())
        .outerjoin(Reviewer, Reviewer.id == newest.reviewer_id)
        .where(Question.id.in_(ids))
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
        Lesson(
            i,
            by_id[i].reviewed_at,
            tuple(right.get(i, ())) if by_id[i].counts else (),
            question_text(by_id[i].title, by_id[i].body),
            tuple(shown.get(i, ())),
            by_id[i].log_id,
            by_id[i].reviewer_id,
        )
        for i in ids
        if i in by_id
    ]


_READ_CHANGES = {
    row: select(ReviewChanges.version).where(ReviewChanges.id == row) for row in (REVIEW_CHANGES_ROW, LESSONS_ROW)
}


def _review_changes(row: int = REVIEW_CHANGES_ROW) -> int | None:
    # Core on the session's connection: the ORM's execute would cost as much as the read.
    return db.session.connection().execute(_READ_CHANGES[row]).scalar()


def _newest_log_entry() -> Any:
    """The id of the question's newest review log entry (None for reviews from before the log)."""
    return select(func.max(Review.id)).where(Review.prediction_id == Question.id).scalar_subquery()


def _name_new_tags(targets: list[Any], version: int | None) -> None:
    """Give the models the tags an imported catalogue brought that none was trained on."""
    if version is None:
        return
    names = new_tag_names()
    for model in targets:
        if hasattr(model, "learn_names"):
            model.learn_names(names)


def _teach(targets: list[Any], reviews: list[Lesson]) -> int:
    if not reviews or not targets:
        return 0
    items = [
        (review.text, list(review.tags), review.question, list(review.shown), review.reviewer) for review in reviews
    ]
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
