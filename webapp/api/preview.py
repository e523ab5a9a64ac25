"""Suggestions while typing: ``POST /api/v1/suggest/preview`` runs one model on the question
as it stands and stores nothing (the stored question is still made by the submit).

It has its own, generous rate limit (``TAGSMITH_PREVIEW_LIMIT``) instead of the write limits:
a person typing sends a request every few hundred milliseconds. It needs no CSRF token: it
changes nothing, sets no cookie, and takes only JSON, which a cross-site form cannot send.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from ml.errors import ModelUnavailable
from ml.text import question_text
from webapp.api.openapi import documented
from webapp.api.schemas import PreviewIn, PreviewOut
from webapp.ask.serving import default_model, models
from webapp.core.catalogue import renamed_suggestions
from webapp.core.errors import ApiError
from webapp.core.inputs import InputError, clean_models
from webapp.review.learning import catch_up

bp = Blueprint("preview", __name__, url_prefix="/api/v1")


@bp.post("/suggest/preview")
@documented(ok=PreviewOut, tags=["questions"])
def suggest_preview(json: PreviewIn):
    """Suggestions for a question as it is being typed, from one model; nothing is stored."""
    try:
        name = _one_model(json.model)
    except InputError as error:
        raise ApiError.invalid(error.fields) from None
    if not (json.title or json.body):
        return jsonify(model=name, tags=[], confident=False, stored=False)
    try:
        predictor = models().get(name)
    except ModelUnavailable as error:
        raise ApiError(503, error.message) from None
    catch_up()  # as asking does: reviews other workers saved count while typing too
    started = time.perf_counter()
    asked = [question_text(json.title, json.body)]
    suggestions = renamed_suggestions(predictor.suggest(asked, top_k=json.top_k, threshold=json.threshold))
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    return jsonify(
        model=name,
        tags=[{"tag": item.tag, "score": item.score, "confident": item.confident} for item in suggestions[0]],
        confident=any(item.confident for item in suggestions[0]),
        elapsed_ms=round(elapsed_ms, 2),
        stored=False,
    )


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
