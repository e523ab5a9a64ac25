"""The JSON API (``/api/v1``) and the health check. Same checks and storage as the pages;
errors are JSON with a message and the status code that fits."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for

from ml.catalogue import load_catalogue, normalise_tag, tag_problem
from ml.registry import model_names

from .database import check_writable
from .errors import ApiError
from .explain import answer_reasons, explain_requested
from .extensions import db
from .inputs import (
    InputError,
    Limits,
    canonical_added,
    clean_models,
    clean_question,
    clean_threshold,
    clean_top_k,
    parse_tag_list,
)
from .queries import CURSOR_RULE, MAX_PAGE, MAX_PER_PAGE, PAGE_RULE, Filters, page_of, parse_cursor
from .review import save_review
from .serialize import model_dict, prediction_dict
from .serving import default_model, models
from .suggest import suggest_and_store
from .tables import Prediction

bp = Blueprint("api", __name__, url_prefix="/api/v1")
health = Blueprint("health", __name__)

SUGGEST_KEYS = {"title", "body", "questions", "models", "top_k", "threshold"}
FEEDBACK_KEYS = {"accepted", "rejected", "added"}


def json_object(allowed: set[str]) -> dict:
    """The request's JSON object, or the precise reason it is not one."""
    if not request.is_json:
        raise ApiError(415, "Send JSON with the header Content-Type: application/json.")
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH this raises 413
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "The request body is not valid UTF-8.") from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise ApiError(400, "Malformed JSON: it is nested too deeply.") from None
    except (json.JSONDecodeError, ValueError) as error:
        detail = (
            f"{error.msg} at line {error.lineno}, column {error.colno}"
            if isinstance(error, json.JSONDecodeError)
            else str(error)
        )
        raise ApiError(400, f"Malformed JSON: {detail}.") from None
    if not isinstance(data, dict):
        raise ApiError(422, 'The JSON body must be an object, e.g. {"title": "..."}.')
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ApiError(
            422,
            "Unknown field.",
            {name: f"unknown field; expected one of {', '.join(sorted(allowed))}" for name in unknown},
        )
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def invalid(error: InputError) -> ApiError:
    return ApiError.invalid(error.fields)


def _questions(data: dict, limits: Limits) -> tuple[list[tuple[str, str]], bool]:
    """(questions, batch?) from either {"title", "body"} or {"questions": [...]}."""
    if "questions" not in data:
        try:
            return [clean_question(data.get("title"), data.get("body"), limits)], False
        except InputError as error:
            raise invalid(error) from None
    if "title" in data or "body" in data:
        raise ApiError(422, "Send either one question (title, body) or a batch (questions), not both.")
    batch = data["questions"]
    if not isinstance(batch, list) or not batch:
        raise ApiError.invalid(
            {"questions": 'questions must be a non-empty list of {"title", "body"} objects.'},
        )
    if len(batch) > limits.batch_max:
        raise ApiError.invalid(
            {"questions": f"at most {limits.batch_max} questions per request (got {len(batch)})."},
        )
    questions, errors = [], {}
    for index, item in enumerate(batch):
        if not isinstance(item, dict):
            errors[f"questions[{index}]"] = "each question must be an object with a title and an optional body."
            continue
        extra = sorted(set(item) - {"title", "body"})
        if extra:
            errors[f"questions[{index}].{extra[0]}"] = "unknown field; expected title and body."
            continue
        try:
            questions.append(clean_question(item.get("title"), item.get("body"), limits))
        except InputError as error:
            errors.update({f"questions[{index}].{name}": message for name, message in error.fields.items()})
    if errors:
        raise ApiError.invalid(errors)
    return questions, True


@bp.post("/suggest")
def suggest():
    data = json_object(SUGGEST_KEYS)
    limits = Limits.from_app()
    questions, batch = _questions(data, limits)
    errors = {}
    settings: dict[str, Any] = {}  # models: tuple[str, ...], top_k: int, threshold: float | None
    default = default_model()
    checks = (
        ("models", lambda value: clean_models(value, default)),
        ("top_k", clean_top_k),
        ("threshold", clean_threshold),
    )
    for key, check in checks:
        try:
            settings[key] = check(data.get(key))
        except InputError as error:
            errors.update(error.fields)
    if errors:
        raise ApiError.invalid(errors)
    outcome = suggest_and_store(
        models(), settings["models"], questions, settings["top_k"], settings["threshold"], source="api"
    )
    items = [_with_reasons(prediction) for prediction in outcome.predictions]
    if batch:
        return jsonify(predictions=items, unavailable=outcome.unavailable), 201
    response = jsonify(items[0] | {"unavailable": outcome.unavailable})
    response.status_code = 201
    response.headers["Location"] = items[0]["url"]
    return response


@bp.get("/predictions")
def predictions():
    """Newest first. ``next``/``prev`` are keyset links (``before=``/``after=`` an id), which
    cost the same at any depth; ``page=`` (an OFFSET) still works for the first pages."""
    page = _positive_int_arg("page", 1)
    if page > MAX_PAGE:
        raise ApiError.invalid({"page": PAGE_RULE})
    per_page = _positive_int_arg("per_page", current_app.config["PAGE_SIZE"])
    if per_page > MAX_PER_PAGE:
        raise ApiError.invalid({"per_page": f"at most {MAX_PER_PAGE}."})
    model = request.args.get("model")
    if model and model not in model_names():
        raise ApiError.invalid({"model": f"choose from {', '.join(model_names())}."})
    cursors: dict[str, int | None] = {}
    errors = {}
    for name in ("before", "after"):
        try:
            cursors[name] = parse_cursor(request.args.get(name))
        except ValueError:
            errors[name] = f"{name} {CURSOR_RULE}"
    if errors:
        raise ApiError.invalid(errors)
    given = [name for name, value in cursors.items() if value is not None]
    if len(given) == 2 or (given and "page" in request.args):
        raise ApiError(422, "Page by one of page, before or after, not several.")
    filters = Filters.from_args(request.args)
    listing = page_of(filters, per_page, page=page, **cursors)

    def link(**position: int) -> str:
        # Filter values are strings; url_for types its own keywords (_external, ...) more narrowly.
        query_args: dict[str, Any] = filters.as_args() | position
        return url_for("api.predictions", per_page=per_page, **query_args)

    return jsonify(
        items=[prediction_dict(prediction) for prediction in listing.items],
        page=listing.number,
        per_page=per_page,
        total=listing.total,
        total_exact=listing.total_exact,
        pages=listing.pages,
        next=link(before=listing.older) if listing.older is not None else None,
        prev=link(after=listing.newer) if listing.newer is not None else None,
    )


def _positive_int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ApiError.invalid({name: f"{name} must be a whole number of at least 1."})
    return value


def _prediction_or_404(prediction_id: int) -> Prediction:
    return db.get_or_404(Prediction, prediction_id, description=f"There is no prediction {prediction_id}.")


@bp.get("/predictions/<id:prediction_id>")
def prediction(prediction_id: int):
    return jsonify(_with_reasons(_prediction_or_404(prediction_id)))


def _with_reasons(prediction: Prediction) -> dict:
    """``prediction_dict``, with each tag's reasons when the request says ``?explain=1``."""
    return prediction_dict(prediction, answer_reasons(models(), prediction) if explain_requested() else None)


@bp.post("/predictions/<id:prediction_id>/feedback")
def feedback(prediction_id: int):
    prediction = _prediction_or_404(prediction_id)
    data = json_object(FEEDBACK_KEYS)
    if "accepted" not in data:
        raise ApiError.invalid(
            {"accepted": "list the suggested tags that are right (may be empty)."},
        )
    try:
        accepted = parse_tag_list(data["accepted"], "accepted")
        rejected = parse_tag_list(data["rejected"], "rejected") if data.get("rejected") is not None else None
        added = canonical_added(parse_tag_list(data.get("added"), "added"))
        save_review(prediction, accepted, rejected, added)
    except InputError as error:
        raise invalid(error) from None
    return jsonify(prediction_dict(prediction))


TAG_SEARCH_MAX = 50


@bp.get("/tags")
def tag_search():
    """Catalogue tags starting with ``prefix`` (names and synonyms), most used first."""
    prefix = request.args.get("prefix", "").strip()
    if not prefix:
        raise ApiError.invalid({"prefix": "Give the start of a tag name, e.g. ?prefix=pyth"})
    limit = _positive_int_arg("limit", 10)
    if limit > TAG_SEARCH_MAX:
        raise ApiError.invalid({"limit": f"limit must be at most {TAG_SEARCH_MAX}."})
    return jsonify(prefix=prefix, tags=[info.to_dict() for info in load_catalogue().search(prefix, limit)])


@bp.get("/tags/<path:name>")
def tag_info(name: str):
    """One tag as the site would store it: its canonical name, use count and description;
    ``known`` is false for a tag the 2021 catalogue lacks (it would be added as new)."""
    problem = tag_problem(normalise_tag(name))
    if problem:
        raise ApiError.invalid({"tag": f"{name[:40]!r} {problem}."})
    catalogue = load_catalogue()
    info = catalogue.info(name)
    return jsonify(info.to_dict() | {"known": info.name in catalogue.counts})


@bp.get("/models")
def model_list():
    return jsonify(models=[model_dict(state) for state in models().states()])


def _health() -> tuple[dict, str]:
    """(JSON, status): status "ok", "degraded" (no model loads) or "error" (no writes)."""
    try:
        check_writable()
        database = "ok"
    except Exception:  # the check must answer, whatever the database does
        # The reason goes to the log; the answer names no exception class or path.
        current_app.logger.exception("health check: the database did not answer")
        database = "error"
    loaded = {state.name: "loaded" if state.available else "unavailable" for state in models().states()}
    if database != "ok":
        status = "error"
    elif "loaded" not in loaded.values():
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "database": database, "models": loaded}, status


@health.get("/healthz/live")
def live():
    """Liveness: the process answers. Touches neither the database nor the models, so a
    database outage does not get healthy workers restarted."""
    return jsonify(status="ok")


@health.get("/healthz/ready")
def ready():
    """Readiness: 200 only when the database accepts a write and at least one model is loaded."""
    payload, status = _health()
    return jsonify(payload), 200 if status == "ok" else 503


@health.get("/healthz")
def healthz():
    """As before: 200 while the site can serve, "degraded" (still 200) when no model loads,
    503 when the database takes no writes."""
    payload, status = _health()
    return jsonify(payload), 503 if status == "error" else 200
