"""Suggestions while typing: ``POST /api/v1/suggest/preview`` runs one model on the question
as it stands and stores nothing (the stored question is still made by the submit).

It has its own, generous rate limit (``TAGSMITH_PREVIEW_LIMIT``) instead of the write limits:
a person typing sends a request every few hundred milliseconds. It needs no CSRF token: it
changes nothing, sets no cookie, and takes only JSON, which a cross-site form cannot send.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, current_app, jsonify

from ml.errors import ModelUnavailable
from ml.text import question_text

from .api import json_object
from .errors import ApiError
from .inputs import InputError, Limits, clean_body, clean_models, clean_threshold, clean_top_k, text_problem
from .serving import default_model, models

bp = Blueprint("preview", __name__, url_prefix="/api/v1")

T = TypeVar("T")
PREVIEW_KEYS = {"title", "body", "model", "top_k", "threshold"}


@bp.post("/suggest/preview")
def suggest_preview():
    data = json_object(PREVIEW_KEYS)
    limits = Limits.from_app()
    errors: dict[str, str] = {}

    def checked(check: Callable[[Any], T], key: str, fallback: T) -> T:
        try:
            return check(data.get(key))
        except InputError as error:
            errors.update(error.fields)
            return fallback

    title = checked(lambda value: _partial_title(value, limits), "title", "")
    body = checked(lambda value: clean_body(value, limits), "body", "")
    name = checked(_one_model, "model", "")
    top_k = checked(clean_top_k, "top_k", 0)
    threshold = checked(clean_threshold, "threshold", None)
    if errors:
        raise ApiError.invalid(errors)
    if not (title or body):
        return jsonify(model=name, tags=[], confident=False, stored=False)
    try:
        predictor = models().get(name)
    except ModelUnavailable as error:
        raise ApiError(503, error.message) from None
    started = time.perf_counter()
    suggestions = predictor.suggest([question_text(title, body)], top_k=top_k, threshold=threshold)[0]
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    return jsonify(
        model=name,
        tags=[{"tag": item.tag, "score": item.score, "confident": item.confident} for item in suggestions],
        confident=any(item.confident for item in suggestions),
        elapsed_ms=round(elapsed_ms, 2),
        stored=False,
    )


def _partial_title(value: object, limits: Limits) -> str:
    """A title being typed: any length up to the maximum (the submit enforces the minimum)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError({"title": "The title must be text."})
    problem = text_problem(value)
    if problem:
        raise InputError({"title": f"The title {problem}."})
    title = " ".join(value.split())
    if len(title) > limits.title_max:
        raise InputError(
            {"title": f"The title can have at most {limits.title_max:,} characters (this one has {len(title):,})."}
        )
    return title


def _one_model(value: object) -> str:
    """One model per keystroke: the one asked for, else the preview model, else the site's default.
    "both" (the form's side by side) previews the default alone, to stay cheap."""
    if value is None or value == "" or value == "both":
        value = current_app.config.get("PREVIEW_MODEL") or _single_default()
    if not isinstance(value, str):
        raise InputError({"model": "model must be one model's name."})
    return clean_models(value)[0]


def _single_default() -> str:
    name = default_model()
    if name != "both":
        return name
    available = [state.name for state in models().states() if state.available]
    if not available:
        raise ApiError(503, "No model is available yet.")
    return available[0]
