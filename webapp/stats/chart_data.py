"""What the charts on /stats show, from the running totals (webapp/stats/figures.py): each chart
with the table of its figures, for people who cannot see it or want the numbers."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from ml.predictor import Predictor
from webapp.core.catalogue import site_catalogue
from webapp.core.templating import model_label, percent
from webapp.stats.charts import Series, bar_chart, line_chart
from webapp.stats.figures import ADDED_CANDIDATES, TOP_TAGS, Stats

DAYS = 90
WEEKS = 26


_known: dict[tuple, frozenset[str]] = {}  # one entry: the vocabulary of the models loaded now
_known_lock = threading.Lock()


def known_tags(predictors: Sequence[Predictor]) -> frozenset[str] | None:
    """Every tag the loaded models know (None when none is loaded), built once per set of
    model versions rather than on every request (tens of thousands of labels)."""
    if not predictors:
        return None
    catalogue = site_catalogue()  # a new one after an import: the names may have moved
    key = (catalogue, *((predictor.name, predictor.version, len(predictor.labels)) for predictor in predictors))
    with _known_lock:
        if key not in _known:
            _known.clear()
            # Under today's names, as /stats counts tags: the baseline's osx knows macos.
            _known[key] = frozenset(
                catalogue.canonical(label) for predictor in predictors for label in predictor.labels
            )
        return _known[key]


@dataclass
class Chart:
    key: str  # the element id
    heading: str
    svg: Markup
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def stats_charts(stats: Stats, known_tags: Collection[str] | None) -> list[Chart]:
    """``known_tags``: every label of the loaded models (None when none is loaded)."""
    charts = [usage(stats)]
    precision = precision_over_time(stats)
    if precision:
        charts.append(precision)
    charts.append(
        tag_chart(
            "suggested", "Most suggested tags", "answers that suggested it", stats.top_tags("suggested", TOP_TAGS)
        )
    )
    charts.append(
        tag_chart("rejected", "Most rejected tags", "reviews that rejected it", stats.top_tags("rejected", TOP_TAGS))
    )
    charts.append(
        tag_chart("added", "Tags reviewers added most", "reviews that added it", stats.top_tags("added", TOP_TAGS))
    )
    unknown = stats.top_tags("added", TOP_TAGS, unknown_to=known_tags or ())
    chart = tag_chart("unknown", "Added tags no model knows", "reviews that added it", unknown)
    chart.note = (
        f"Among the {ADDED_CANDIDATES} tags reviewers added most, those in no loaded model's vocabulary:"
        " candidates for the next training."
        if known_tags is not None
        else "No model is loaded, so every added tag is listed."
    )
    charts.append(chart)
    return charts


def usage(stats: Stats) -> Chart:
    days = stats.recent_days(DAYS)
    labels = [day.day for day in days]
    span = f"from {labels[0]} to {labels[-1]}" if labels else "no days yet"
    svg = line_chart(
        "Questions asked and reviewed per day",
        f"Two lines, one point per day {span}: questions asked (total {sum(d.questions for d in days):,}) "
        f"and questions reviewed (total {sum(d.reviewed for d in days):,}).",
        labels,
        [Series("asked", [day.questions for day in days]), Series("reviewed", [day.reviewed for day in days])],
    )
    rows = [
        [day.day, f"{day.questions:,}", f"{day.reviewed:,}"] for day in reversed(days) if day.questions or day.reviewed
    ]
    return Chart("chart-usage", "Questions and reviews per day", svg, ["Day", "Asked", "Reviewed"], rows)


def precision_over_time(stats: Stats) -> Chart | None:
    series_by_version = stats.version_series()
    if not series_by_version:
        return None
    weeks = sorted({week.week for week in stats.weeks.values()})[-WEEKS:]
    series = []
    rows = []
    for (model, version), found in series_by_version.items():
        by_week = {week.week: week for week in found}
        series.append(
            Series(
                f"{model_label(model)} ({version})",
                [by_week[week].precision if week in by_week else None for week in weeks],
            )
        )
        for week in reversed(found):
            if week.week in weeks:
                rows.append(
                    [
                        week.week,
                        model_label(model),
                        version,
                        f"{week.reviewed:,}",
                        percent(week.precision, 1),
                        percent(week.recall, 1),
                    ]
                )
    rows.sort(key=lambda row: row[0], reverse=True)
    svg = line_chart(
        "Precision per model version, by week of review",
        f"One line per model version over {len(weeks)} week(s) with reviews: the share of its suggested tags "
        "that reviewers marked right, from 0 to 100%.",
        weeks,
        series,
        y_max=1.0,
        y_format=lambda value: f"{value * 100:.0f}%",
    )
    return Chart(
        "chart-precision",
        "Precision per model version over time",
        svg,
        ["Week of", "Model", "Version", "Questions", "Precision", "Recall"],
        rows,
        note="Weeks start on Monday; a question counts in the week of its latest review.",
    )


def tag_chart(key: str, heading: str, what: str, tags) -> Chart:
    bars = [(tag.tag, getattr(tag, key if key != "unknown" else "added")) for tag in tags]
    description = (
        f"{len(bars)} tags, most first: " + ", ".join(f"{name} {value:,}" for name, value in bars)
        if bars
        else "No tag yet."
    )
    svg = bar_chart(heading, description, bars)
    return Chart(
        f"chart-{key}", heading, svg, ["Tag", what.capitalize()], [[name, f"{value:,}"] for name, value in bars]
    )
