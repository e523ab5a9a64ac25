"""The JSON API (``/api/v1``) and the health check. Same checks and storage as the pages.

Every route is validated and documented by ``@documented`` (``webapp.api.openapi``, where its
docstring says how to add one); the OpenAPI document is at ``/api/v1/openapi.json``, the
interactive page at ``/api/v1/docs``, and ``/api/v1/`` lists the endpoints. Errors are RFC
9457 problems (``webapp.core.errors``); links are absolute.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, url_for

from ml.data.tag_names import normalise_tag, tag_problem
from webapp.api import openapi
from webapp.api.openapi import documented
from webapp.api.schemas import (
    ApiRoot,
    ExplainQuery,
    FeedbackIn,
    Health,
    ModelsOut,
    QuestionList,
    QuestionOut,
    QuestionQuery,
    SuggestCreated,
    SuggestIn,
    TagInfoOut,
    TagSearchOut,
    TagSearchQuery,
)
from webapp.api.serialize import model_dict, question_dict
from webapp.ask.explain import answer_reasons
from webapp.ask.serving import models
from webapp.ask.suggest import suggest_and_store
from webapp.auth.login import api_reviewer_required, current_reviewer
from webapp.core.catalogue import did_you_mean, site_catalogue
from webapp.core.database import check_writable
from webapp.core.errors import ApiError
from webapp.core.extensions import db
from webapp.core.inputs import InputError, canonical_added
from webapp.core.tables import Question
from webapp.history.queries import Filters, page_of
from webapp.review.verdicts import delete_question, latest_reviews, review_log, save_review

bp = Blueprint("api", __name__, url_prefix="/api/v1", template_folder="templates")
health = Blueprint("health", __name__)


def invalid(error: InputError) -> ApiError:
    return ApiError.invalid(error.fields)


@bp.get("/")
@documented(ok=ApiRoot, tags=["about"])
def root():
    """What this API offers, with a link to each endpoint (as Annif's REST API root does)."""
    document = openapi.document()
    endpoints = [
        {"method": method.upper(), "href": _absolute(path), "summary": operation.get("summary", "")}
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]
    return jsonify(
        title=openapi.TITLE,
        version=openapi.VERSION,
        openapi=url_for("api.openapi_json", _external=True),
        docs=url_for("api.docs", _external=True),
        endpoints=endpoints,
    )


def _absolute(path: str) -> str:
    """A path from the document as an absolute URL ({id} placeholders kept)."""
    return url_for("api.root", _external=True).removesuffix("/api/v1/") + path


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 document, generated from the models that validate each request."""
    return jsonify(openapi.document())


@bp.get("/docs")
def docs():
    """Swagger UI over the document; its files come from the swagger-ui-py package, no CDN."""
    return render_template("api_docs.html", spec_url=url_for("api.openapi_json"))


@bp.get("/docs/assets/<name>")
def docs_asset(name: str):
    return openapi.swagger_asset(name)


@bp.post("/suggest")
@documented(ok=SuggestCreated, status=201, tags=["questions"])
def suggest(json: SuggestIn, query: ExplainQuery):
    """Tag one question or a batch, store each with its answers, and return them."""
    try:
        questions = json.question_list()
    except InputError as error:
        raise invalid(error) from None
    chosen = tuple(json.models or ())
    outcome = suggest_and_store(models(), chosen, questions, json.top_k, json.threshold, source="api")
    items = [question_dict(question, reasons=_reasons(question, query)) for question in outcome.questions]
    if json.questions is not None:
        return jsonify(predictions=items, unavailable=outcome.unavailable), 201
    response = jsonify(items[0] | {"unavailable": outcome.unavailable})
    response.status_code = 201
    response.headers["Location"] = items[0]["url"]
    return response


@bp.get("/predictions")
@documented(ok=QuestionList, tags=["questions"])
def predictions(query: QuestionQuery):
    """The stored questions, newest first. ``next``/``prev`` are keyset links (``before=``/
    ``after=`` an id), which cost the same at any depth; ``page=`` (an OFFSET) still works."""
    per_page = query.per_page or current_app.config["PAGE_SIZE"]
    # Already checked (an unknown value is a 422 here, unlike the history page's lenient form).
    filters = Filters.from_args(
        {"model": query.model or "", "tag": query.tag or "", "reviewed": query.reviewed or "", "q": query.q or ""}
    )
    listing = page_of(filters, per_page, page=query.page or 1, before=query.before, after=query.after)

    def link(**position: int) -> str:
        # Filter values are strings; url_for types its own keywords (_external, ...) more narrowly.
        query_args: dict[str, Any] = filters.as_args() | position
        return url_for("api.predictions", per_page=per_page, _external=True, **query_args)

    latest = latest_reviews([question.id for question in listing.items if question.reviewed_at is not None])
    return jsonify(
        items=[question_dict(question, latest.get(question.id)) for question in listing.items],
        page=listing.number,
        per_page=per_page,
        total=listing.total,
        total_exact=listing.total_exact,
        pages=listing.pages,
        next=link(before=listing.older) if listing.older is not None else None,
        prev=link(after=listing.newer) if listing.newer is not None else None,
    )


def _prediction_or_404(prediction_id: int) -> Question:
    return db.get_or_404(Question, prediction_id, description=f"There is no prediction {prediction_id}.")


def _reasons(question: Question, query: ExplainQuery) -> dict | None:
    """Each answer's reasons per tag when asked (``?explain=1``): recomputed, so not by default."""
    return answer_reasons(models(), question) if query.explain else None


def _with_log(question: Question, query: ExplainQuery) -> dict:
    log = review_log(question.id)
    return question_dict(question, latest=log[0] if log else None, log=log, reasons=_reasons(question, query))


@bp.get("/predictions/<id:prediction_id>")
@documented(ok=QuestionOut, tags=["questions"])
def question(prediction_id: int, query: ExplainQuery):
    """One stored question with its answers, its review and the review log."""
    return jsonify(_with_log(_prediction_or_404(prediction_id), query))


# The token is checked first: an anonymous client learns it needs one before any validation.
@bp.delete("/predictions/<id:prediction_id>")
@api_reviewer_required
@documented(status=204, tags=["questions"], security={"bearer": []}, errors=(401, 403))
def remove_question(prediction_id: int):
    """Delete a question with its answers and its whole review log (a reviewer's token)."""
    delete_question(_prediction_or_404(prediction_id))
    return "", 204


@bp.post("/predictions/<id:prediction_id>/feedback")
@api_reviewer_required
@documented(ok=QuestionOut, tags=["questions"], security={"bearer": []}, errors=(401, 403))
def feedback(prediction_id: int, json: FeedbackIn, query: ExplainQuery):
    """Review a question's tags (left out, ``rejected`` is every suggested tag not accepted);
    it needs a reviewer's token and is added to the question's review log."""
    question = _prediction_or_404(prediction_id)
    try:
        save_review(question, current_reviewer(), json.accepted, json.rejected, canonical_added(json.added))
    except InputError as error:
        raise invalid(error) from None
    return jsonify(_with_log(question, query))


@bp.get("/tags")
@documented(ok=TagSearchOut, tags=["tags"])
def tag_search(query: TagSearchQuery):
    """Catalogue tags starting with ``prefix`` (names and synonyms), most used first."""
    found = site_catalogue().search(query.prefix, query.limit)
    return jsonify(prefix=query.prefix, tags=[info.to_dict() for info in found])


@bp.get("/tags/<path:name>")
@documented(ok=TagInfoOut, tags=["tags"], errors=(422,))
def tag_info(name: str):
    """One tag as the site would store it: its canonical name, use count and description;
    ``known`` is false for a tag the catalogue lacks (it would be added as new), and then
    ``did_you_mean`` lists what it may be a typo of."""
    problem = tag_problem(normalise_tag(name))
    if problem:
        raise ApiError.invalid({"tag": f"{name[:40]!r} {problem}."})
    catalogue = site_catalogue()
    info = catalogue.info(name)
    known = info.name in catalogue.counts
    hints = {} if known else {"did_you_mean": did_you_mean(info.name)}
    return jsonify(info.to_dict() | {"known": known} | hints)


@bp.get("/models")
@documented(ok=ModelsOut, tags=["models"])
def model_list():
    """Each model: available or why not, version, labels, test metrics, global threshold."""
    return jsonify(models=[model_dict(state) for state in models().states()])


def _health() -> tuple[dict, str]:
    """(JSON, status): status "ok", "degraded" (no model loads, or the model the site serves
    by default has an artifact that does not load) or "error" (no writes)."""
    try:
        check_writable()
        database = "ok"
    except Exception:  # the check must answer, whatever the database does
        # The reason goes to the log; the answer names no exception class or path.
        current_app.logger.exception("health check: the database did not answer")
        database = "error"
    registry = models()
    loaded = {state.name: "loaded" if state.available else "unavailable" for state in registry.states()}
    # A default model not built yet leaves the site serving the others side by side; one that
    # is there but does not load is a fault, which a worker must not hide behind the others.
    default = str(current_app.config.get("DEFAULT_MODEL"))
    broken_default = loaded.get(default) == "unavailable" and registry.has_artifact(default)
    if database != "ok":
        status = "error"
    elif "loaded" not in loaded.values() or broken_default:
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "database": database, "models": loaded}, status


@health.get("/healthz/live")
@documented(ok=Health, tags=["health"])
def live():
    """Liveness: the process answers. Touches neither the database nor the models, so a
    database outage does not get healthy workers restarted."""
    return jsonify(status="ok")


@health.get("/healthz/ready")
@documented(ok=Health, tags=["health"], answers={503: Health})
def ready():
    """Readiness: 200 only when the database accepts a write, at least one model is loaded
    and the model the site serves by default loads if it is there."""
    payload, status = _health()
    return jsonify(payload), 200 if status == "ok" else 503


@health.get("/healthz")
@documented(ok=Health, tags=["health"], answers={503: Health})
def healthz():
    """As before: 200 while the site can serve, "degraded" (still 200) when no model loads,
    503 when the database takes no writes."""
    payload, status = _health()
    return jsonify(payload), 503 if status == "error" else 200
