"""Asking the models about questions and storing the answers, all or nothing."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from ml.errors import ModelUnavailable, PredictionFailed
from ml.predictor import Suggestion
from ml.text import question_text

from . import tag_index
from .counters import AnySession, lock_question, record_new_answer, record_new_questions
from .database import transaction
from .learning import catch_up
from .serving import ModelRegistry
from .tables import ModelAnswer, Prediction, SuggestedTag

log = logging.getLogger(__name__)


@dataclass
class ModelRun:
    model: str
    version: str
    latency_ms: float  # per question: a batch's time is shared out evenly
    suggestions: list[list[Suggestion]]


@dataclass
class Outcome:
    predictions: list[Prediction]
    unavailable: dict[str, str] = field(default_factory=dict)


def run_models(
    registry: ModelRegistry,
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
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        runs.append(ModelRun(name, predictor.version, elapsed_ms / len(texts), suggestions))
    if not runs:
        raise ModelUnavailable("None of the requested models is available.", unavailable)
    return runs, unavailable


def suggest_and_store(
    registry: ModelRegistry,
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
        predictions = store_predictions(session, runs, questions, top_k, threshold, source)
    return Outcome(predictions, unavailable)


def store_predictions(
    session: AnySession,
    runs: list[ModelRun],
    questions: list[tuple[str, str]],
    top_k: int,
    threshold: float | None,
    source: str,
) -> list[Prediction]:
    """Add the questions with their answers to the caller's transaction (flushed: ids set)."""
    predictions = []
    for index, (title, body) in enumerate(questions):
        prediction = Prediction(title=title, body=body, source=source, top_k=top_k, threshold=threshold)
        prediction.answers = [_answer(run, index) for run in runs]
        predictions.append(prediction)
    session.add_all(predictions)
    session.flush()
    record_new_questions(session, predictions)
    tag_index.refresh(session, [prediction.id for prediction in predictions])
    return predictions


def add_answer(registry: ModelRegistry, prediction: Prediction, name: str) -> None:
    """Run one more model on a stored question (the user asked for another model later)."""
    question = [(prediction.title, prediction.body)]
    runs, _ = run_models(registry, (name,), question, prediction.top_k, prediction.threshold)
    with transaction() as session:
        lock_question(session, prediction)
        if prediction.answer(name) is not None:
            return  # a double click: the other request stored this model's answer meanwhile
        answer = _answer(runs[0], 0)
        prediction.answers.append(answer)
        session.flush()
        record_new_answer(session, prediction, answer)
        tag_index.refresh(session, [prediction.id])


def _answer(run: ModelRun, index: int) -> ModelAnswer:
    tags = [
        SuggestedTag(rank=rank, tag=item.tag, score=item.score, confident=item.confident)
        for rank, item in enumerate(run.suggestions[index])
    ]
    return ModelAnswer(model=run.model, model_version=run.version, latency_ms=round(run.latency_ms, 3), tags=tags)
