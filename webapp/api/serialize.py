"""Stored rows as plain dicts: the JSON API's shapes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from flask import url_for

from ml.predictor import Predictor
from webapp.ask.serving import ModelState
from webapp.core.tables import ACCEPTED, ADDED, REJECTED, ModelAnswer, Question, Review, ReviewedTag, ReviewVerdict


def timestamp(moment: datetime | None) -> str | None:
    return moment.isoformat() + "Z" if moment else None


def answer_dict(answer: ModelAnswer, reasons: dict | None = None) -> dict:
    found = {
        "model_version": answer.model_version,
        "latency_ms": answer.latency_ms,
        # No confident tag: the one shown is the best guess, not an answer.
        "confident": any(tag.confident for tag in answer.tags),
        "tags": [{"tag": tag.tag, "score": tag.score, "confident": tag.confident} for tag in answer.tags],
    }
    if reasons is not None:  # asked for with ?explain=1: tag -> reasons (a tag without any is left out)
        found["reasons"] = reasons
    return found


def _by_verdict(items: Iterable[ReviewedTag | ReviewVerdict]) -> dict:
    by_verdict: dict[str, list[str]] = {ACCEPTED: [], REJECTED: [], ADDED: []}
    for item in items:
        by_verdict[item.verdict].append(item.tag)
    # The right tags: accepted suggestions, then the added ones (Prediction.right_tags).
    return {**by_verdict, "tags": by_verdict[ACCEPTED] + by_verdict[ADDED]}


def review_dict(question: Question, latest: Review | None = None) -> dict | None:
    """The review that counts; ``latest`` (its log entry) names who made it."""
    if question.reviewed_at is None:
        return None
    return {
        "reviewed_at": timestamp(question.reviewed_at),
        # None: made before reviewer accounts existed.
        "reviewer": latest.reviewer_name if latest else None,
        **_by_verdict(question.review),
    }


def log_entry(review: Review) -> dict:
    return {
        "id": review.id,
        "reviewer": review.reviewer_name,
        "reviewed_at": timestamp(review.created_at),
        **_by_verdict(review.verdicts),
    }


def question_dict(
    question: Question, latest: Review | None = None, log: list[Review] | None = None, reasons: dict | None = None
) -> dict:
    """``latest``: the review that counts (its log entry); ``log``, when given, is listed under
    ``reviews`` (newest first); ``reasons`` (model -> tag -> reasons, ``webapp.ask.explain``) adds
    ``reasons`` to each answer."""
    return {
        "id": question.id,
        # Absolute, so a client can follow them as they are (behind a proxy, ProxyFix makes
        # the scheme and host the public ones).
        "url": url_for("api.question", prediction_id=question.id, _external=True),
        "page": url_for("history.detail", prediction_id=question.id, _external=True),
        "title": question.title,
        "body": question.body,
        "created_at": timestamp(question.created_at),
        "source": question.source,
        "top_k": question.top_k,
        "threshold": question.threshold,
        "answers": {
            answer.model: answer_dict(answer, None if reasons is None else reasons.get(answer.model, {}))
            for answer in question.answers
        },
        "review": review_dict(question, latest),
    } | ({"reviews": [log_entry(review) for review in log]} if log is not None else {})


def model_dict(state: ModelState) -> dict:
    kind = {"name": state.name, "label": state.kind.label, "description": state.kind.description}
    if state.predictor is None:
        return {**kind, "available": False, "message": state.message}
    return {**kind, "available": True, **model_summary(state.predictor)}


def model_summary(predictor: Predictor) -> dict:
    metadata = predictor.metadata or {}
    thresholds = metadata.get("thresholds") or {}
    test = dict((metadata.get("metrics") or {}).get("test") or {})
    test.pop("per_tag", None)  # per-tag tables are long; the models page shows them
    return {
        "version": predictor.version,
        "created": metadata.get("created"),
        "labels": list(predictor.labels),
        "global_threshold": thresholds.get("global"),
        "params": metadata.get("params"),
        "test_metrics": test,
    }
