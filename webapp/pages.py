"""The ask page, the models page and the stats page."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for

from ml.errors import ModelUnavailable
from ml.registry import model_names
from webapp.errors import for_people
from webapp.extensions import db
from webapp.forms import AskForm
from webapp.inputs import clean_models
from webapp.model_pages import best_at, measured, next_sort, parse_table_args, plain_words, site_latencies, tag_table
from webapp.queries import Filters, history_query
from webapp.serving import models
from webapp.stats import compute
from webapp.stats_charts import known_tags, stats_charts
from webapp.suggest import suggest_and_store
from webapp.version_stats import PERIODS, by_version, from_totals

bp = Blueprint("pages", __name__)
RECENT = 5
# Shown on the empty ask page: one click fills the form (a link with the question in its
# query, so it works without JavaScript too); nothing is asked until the user submits.
EXAMPLES = (
    ("How do I merge two dictionaries in a single expression in Python?", ""),
    (
        "Pandas groupby: count distinct values per group",
        "<p>I have a DataFrame and want the number of unique users per day:</p>\n"
        "<pre><code>import pandas as pd\ndf.groupby('day')['user'].nunique()</code></pre>",
    ),
    ("React useEffect runs twice on mount", "I use `useEffect(() => { fetchData(); }, [])` in a function component."),
    (
        "Docker container cannot connect to PostgreSQL on the host",
        "`psql: could not connect to server: Connection refused`",
    ),
)


@bp.route("/", methods=["GET", "POST"])
def ask():
    form = AskForm()
    states = models().states()
    if not form.is_submitted() and request.args.get("title"):
        # An example link (or a shared one): fill the form, ask nothing yet.
        form.title.data = request.args.get("title", "")
        form.body.data = request.args.get("body", "")
    elif form.is_submitted():
        if not form.validate():
            return _ask_page(form, states), 422
        try:
            outcome = suggest_and_store(
                models(),
                clean_models(form.model.data),
                [(form.title.data, form.body.data)],
                form.top_k_value,
                form.threshold_value,
                source="web",
            )
        except ModelUnavailable as error:
            return _ask_page(form, states, problem=for_people(error)), 503
        # Post/redirect/get: reloading the result page never stores the question twice.
        view = form.model.data if form.model.data in model_names() else None
        return redirect(
            url_for("history.detail", prediction_id=outcome.predictions[0].id, asked=1, view=view), code=303
        )
    return _ask_page(form, states)


def _ask_page(form: AskForm, states, problem: str | None = None) -> str:
    recent = db.session.scalars(history_query(Filters()).limit(RECENT)).all()  # no COUNT, unlike a page
    return render_template("ask.html", form=form, states=states, problem=problem, recent=recent, examples=EXAMPLES)


@bp.get("/models")
def model_list():
    states = models().states()
    latencies = site_latencies([state.name for state in states])
    found = {state.name: measured(state.predictor, latencies[state.name]) for state in states if state.predictor}
    words = {name: plain_words(figures) for name, figures in found.items()}
    return render_template("models.html", states=states, words=words, best=best_at(found))


@bp.get("/models/<name>/tags")
def model_tags(name: str):
    if name not in model_names():
        abort(404, description=f"There is no model called {name!r}.")
    state = models().state(name)
    if state.predictor is None:
        abort(503, description=state.message)
    query, sort, page = parse_table_args(request.args)
    table = tag_table(state.predictor, query, sort, page)
    return render_template("model_tags.html", state=state, table=table, query=query, sort=sort, next_sort=next_sort)


@bp.get("/stats")
def stats():
    figures = compute()
    known = known_tags([state.predictor for state in models().states() if state.predictor is not None])
    charts = stats_charts(figures, known)
    return render_template("stats.html", stats=figures, charts=charts, versions=from_totals(figures))


@bp.get("/stats/versions.json")
def stats_by_version():
    """Precision and recall per model version and period, for charts and scripts."""
    period = request.args.get("period", "week")
    if period not in PERIODS:
        abort(400, description=f"period must be one of {', '.join(PERIODS)}.")
    return jsonify(period=period, rows=[row.to_dict() for row in by_version(period)])
