"""Asking the models about questions and storing the answers, all or nothing."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from ml.errors import ModelUnavailable, PredictionFailed
from ml.predictor import Suggestion
from ml.text import question_text
from webapp.ask.serving import ServedModels
from webapp.core.catalogue import renamed_suggestions
from webapp.core.database import AnySession, transaction
from webapp.core.tables import ModelAnswer, Question, SuggestedTag, utc_now
from webapp.history import tag_index
from webapp.review.learning import catch_up
from webapp.stats.counters import apply, count_new_questions, lock_question, record_new_answer

log = logging.getLogger(__name__)


@dataclass
class ModelRun:
    model: str
    version: str
    latency_ms: float  # per question: a batch's time is shared out evenly
    suggestions: list[list[Suggestion]]


@dataclass
class Outcome:
    questions: list[Question]
    unavailable: dict[str, str] = field(default_factory=dict)


def run_models(
    registry: ServedModels,
    names: tuple[str, ...],
    questions: list[tuple[str, str]],
    top_k: int,
    threshold: float | None,
) -> tuple[list[ModelRun], dict[str, str]]:
    texts = [question_text(title, body) for title, body in questions]
    catch_up()  # reviews other workers saved count in this prediction too
    runs, unavailable = [], {}
    for name in names:
        try:
            predictor = registry.get(name)
        except ModelUnavailable as error:
            unavailable[name] = error.message
            continue
        started = time.perf_counter()
        try:
            suggestions = predictor.suggest(texts, top_k=top_k, threshold=threshold)
        except Exception as error:
            log.exception("the %s model failed to predict", name)
            raise PredictionFailed(name) from error
        suggestions = renamed_suggestions(suggestions)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        runs.append(ModelRun(name, predictor.version, elapsed_ms / len(texts), suggestions))
    if not runs:
        raise ModelUnavailable("None of the requested models is available.", unavailable)
    return runs, unavailable


def suggest_and_store(
    registry: ServedModels,
    names: tuple[str, ...],
    questions: list[tuple[str, str]],
    top_k: int,
    threshold: float | None,
    source: str,
) -> Outcome:
    """Run the models, then store every question with every answer in one transaction:
    a model failing (or the database) leaves no question stored without its answers."""
    runs, unavailable = run_models(registry, names, questions, top_k, threshold)
    with transaction() as session:
        stored = store_questions(session, runs, questions, top_k, threshold, source)
    return Outcome(stored, unavailable)


def store_questions(
    session: AnySession,
    runs: list[ModelRun],
    questions: list[tuple[str, str]],
    top_k: int,
    threshold: float | None,
    source: str,
) -> list[Question]:
    """Add the questions with their answers to the caller's transaction (flushed: ids set).

    On SQLite the first INSERT takes the file's one write lock until the commit, and every
    other worker's write waits: whatever can be worked out before (the rows, the times, the
    counters' changes) is, so that it is held only while the statements run."""
    now = utc_now()
    stored = []
    for index, (title, body) in enumerate(questions):
        question = Question(title=title, body=body, source=source, top_k=top_k, threshold=threshold, created_at=now)
        question.answers = [_answer(run, index, now) for run in runs]
        stored.append(question)
    tally = count_new_questions(stored)
    session.add_all(stored)
    session.flush()
    tag_index.add_new(session, stored)
    apply(session, tally)
    return stored


def add_answer(registry: ServedModels, question: Question, name: str) -> None:
    """Run one more model on a stored question (the user asked for another model later)."""
    asked = [(question.title, question.body)]
    runs, _ = run_models(registry, (name,), asked, question.top_k, question.threshold)
    with transaction() as session:
        lock_question(session, question)
        if question.answer(name) is not None:
            return  # a double click: the other request stored this model's answer meanwhile
        answer = _answer(runs[0], 0, utc_now())
        question.answers.append(answer)
        session.flush()
        record_new_answer(session, question, answer)
        tag_index.refresh(session, [question.id])


def _answer(run: ModelRun, index: int, now: datetime) -> ModelAnswer:
    tags = [
        SuggestedTag(rank=rank, tag=item.tag, score=item.score, confident=item.confident)
        for rank, item in enumerate(run.suggestions[index])
    ]
    return ModelAnswer(
        model=run.model, model_version=run.version, latency_ms=round(run.latency_ms, 3), tags=tags, created_at=now
    )
