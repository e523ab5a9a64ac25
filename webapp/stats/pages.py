"""The stats page, and precision and recall per model version as JSON."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, request

from webapp.ask.serving import models
from webapp.stats.chart_data import known_tags, stats_charts
from webapp.stats.figures import compute
from webapp.stats.versions import PERIODS, by_version, from_totals

bp = Blueprint("stats", __name__, template_folder="templates")


@bp.get("/stats")
def index():
    figures = compute()
    known = known_tags([state.predictor for state in models().states() if state.predictor is not None])
    charts = stats_charts(figures, known)
    return render_template("stats.html", stats=figures, charts=charts, versions=from_totals(figures))


@bp.get("/stats/versions.json")
def by_version_json():
    """Precision and recall per model version and period, for charts and scripts."""
    period = request.args.get("period", "week")
    if period not in PERIODS:
        abort(400, description=f"period must be one of {', '.join(PERIODS)}.")
    return jsonify(period=period, rows=[row.to_dict() for row in by_version(period)])
