"""History: the list of submitted questions, one question's page with its review, and the
export of reviewed questions for ``python -m ml``."""

from __future__ import annotations

from contextlib import suppress

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from ml.registry import model_names
from webapp.ask.explain import answer_reasons
from webapp.ask.serving import models
from webapp.ask.suggest import add_answer
from webapp.auth.login import current_reviewer, reviewer_required
from webapp.batch.access import owned_job
from webapp.core.extensions import db
from webapp.core.inputs import InputError, canonical_added, parse_tag_list
from webapp.core.streaming import CONTENT_TYPES, csv_pieces, jsonl_pieces
from webapp.core.tables import Question
from webapp.history.queries import (
    MAX_PAGE,
    Filters,
    Page,
    capped_count,
    exportable_count,
    matching_ids,
    page_of,
    parse_cursor,
    reviewed_for_export,
)
from webapp.review.verdicts import delete_question, review_log, reviews_logged, save_review

bp = Blueprint("history", __name__, url_prefix="/history", template_folder="templates")

EXPORT_FLUSH = 50  # rows per piece the export hands the server (one write per row is slow)


def get_question(prediction_id: int) -> Question:
    return db.get_or_404(Question, prediction_id, description=f"There is no question #{prediction_id} in the history.")


@bp.get("/")
def index():
    filters = Filters.from_args(request.args)
    if filters.batch:
        owned_job(filters.batch)  # another's batch: 404, as its page
    page = request.args.get("page", 1, type=int)
    # Lenient like the filters: a cursor that is no id is ignored (the first page).
    cursors = {}
    for name in ("before", "after"):
        with suppress(ValueError):
            cursors[name] = parse_cursor(request.args.get(name))
    if cursors.get("after") is not None:
        cursors["before"] = None
    per_page = current_app.config["PAGE_SIZE"]
    if page > MAX_PAGE:  # past any end: said as kindly as a page just past it, with no OFFSET read
        pagination = Page([], per_page, *capped_count(matching_ids(filters)), None, None, page)
    else:
        pagination = page_of(filters, per_page, page=max(page, 1), **cursors)
    exportable, exportable_exact = exportable_count()
    return render_template(
        "history.html",
        pagination=pagination,
        filters=filters,
        exportable=exportable,
        exportable_exact=exportable_exact,
        model_names=model_names(),
    )


@bp.get("/<id:prediction_id>")
def detail(prediction_id: int):
    question = get_question(prediction_id)
    return _detail_page(question)


@bp.post("/<id:prediction_id>/delete")
@reviewer_required
def delete(prediction_id: int):
    delete_question(get_question(prediction_id))
    return redirect(url_for("history.index", deleted=prediction_id), code=303)


def _detail_page(question: Question, review_errors: dict | None = None, draft: dict | None = None, status: int = 200):
    states = {state.name: state for state in models().states()}
    log = review_log(question.id)
    return (
        render_template(
            "detail.html",
            question=question,
            review_log=log,
            reviews_logged=reviews_logged(question.id) if log else 0,
            states=states,
            model_names=model_names(),
            review_errors=review_errors or {},
            reasons=answer_reasons(models(), question),
            draft=draft,
            just_asked=request.args.get("asked") == "1",
            just_reviewed=request.args.get("reviewed") == "1",
        ),
        status,
    )


@bp.post("/<id:prediction_id>/review")
@reviewer_required
def review(prediction_id: int):
    question = get_question(prediction_id)
    suggested = question.suggested_tags()
    # Verdicts are read only for the tags this question has: a forged field name is ignored.
    verdicts = {tag: request.form.get(f"verdict:{tag}", "") for tag in suggested}
    draft = {"verdicts": verdicts, "added": request.form.get("added", "")}
    errors = {}
    try:
        added = canonical_added(parse_tag_list(draft["added"], "added"))
    except InputError as error:
        errors.update(error.fields)
    if not errors:
        # save_review refuses undecided tags: one rule for the page and the API.
        accepted = [tag for tag, verdict in verdicts.items() if verdict == "accept"]
        rejected = [tag for tag, verdict in verdicts.items() if verdict == "reject"]
        try:
            save_review(question, current_reviewer(), accepted, rejected, added)
        except InputError as error:
            errors.update(error.fields)
    if errors:
        return _detail_page(question, errors, draft, 422)
    return redirect(url_for("history.detail", prediction_id=question.id, reviewed=1, _anchor="review"), code=303)


@bp.post("/<id:prediction_id>/run/<model>")
def run_model(prediction_id: int, model: str):
    """Ask another model about a stored question, so both can be compared."""
    if model not in model_names():
        abort(404, description=f"There is no model called {model!r}.")
    question = get_question(prediction_id)
    if question.answer(model) is None:
        add_answer(models(), question, model)  # a double click stores it once (add_answer checks)
    return redirect(url_for("history.detail", prediction_id=question.id, view=model), code=303)


@bp.get("/export.<kind>")
def export(kind: str):
    # A mistyped address says so to anyone, before the login.
    if kind not in CONTENT_TYPES:
        abort(404, description="Export as export.csv or export.jsonl.")
    return _export(kind)


@reviewer_required
def _export(kind: str):
    rows = export_lines(kind)
    headers = {"Content-Disposition": f'attachment; filename="tagsmith-reviewed.{kind}"'}
    # content_type, not mimetype: Flask adds "; charset=utf-8" to a mimetype a second time.
    return Response(stream_with_context(rows), content_type=CONTENT_TYPES[kind], headers=headers)


def export_lines(kind: str):
    """The export as pieces of text: ``csv`` or ``jsonl`` (``flask tagsmith export`` too)."""
    return _csv_lines() if kind == "csv" else _jsonl_lines()


def _csv_lines():
    """``id,title,body,tags`` with space-separated tags: ``python -m ml train --data`` reads it."""
    rows = ([prediction_id, title, body, " ".join(tags)] for prediction_id, title, body, tags in reviewed_for_export())
    return csv_pieces(["id", "title", "body", "tags"], rows, EXPORT_FLUSH)


def _jsonl_lines():
    items = (
        {"id": prediction_id, "title": title, "body": body, "tags": tags}
        for prediction_id, title, body, tags in reviewed_for_export()
    )
    return jsonl_pieces(items, EXPORT_FLUSH)
