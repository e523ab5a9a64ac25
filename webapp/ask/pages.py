"""The ask page: the form, example questions, and the answer it redirects to."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from ml.errors import ModelUnavailable
from ml.registry import model_names
from webapp.ask.forms import AskForm
from webapp.ask.serving import models
from webapp.ask.suggest import suggest_and_store
from webapp.core.errors import for_people
from webapp.core.extensions import db
from webapp.core.inputs import clean_models
from webapp.history.queries import Filters, history_query

bp = Blueprint("ask", __name__, template_folder="templates")
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
        return redirect(url_for("history.detail", prediction_id=outcome.questions[0].id, asked=1, view=view), code=303)
    return _ask_page(form, states)


def _ask_page(form: AskForm, states, problem: str | None = None) -> str:
    recent = db.session.scalars(history_query(Filters()).limit(RECENT)).all()  # no COUNT, unlike a page
    return render_template("ask.html", form=form, states=states, problem=problem, recent=recent, examples=EXAMPLES)
