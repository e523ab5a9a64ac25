"""The models page in plain words, and each model's tag table (searchable, sortable, paged
on the server, so it works without JavaScript)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, render_template, request

from ml.predictor import Predictor
from ml.registry import model_names
from webapp.ask.serving import models
from webapp.core.extensions import db
from webapp.core.inputs import InputError
from webapp.stats.counters import percentile, read_histograms

bp = Blueprint("models", __name__, template_folder="templates")
PAGE_SIZE = 100
MAX_QUERY = 64
METRICS = ("f1", "precision", "recall", "support")
SORTS = ("rank", "tag", *METRICS)  # a leading "-" sorts the other way


@dataclass
class Measured:
    """What a model is good at, from its test metrics and the site's own latencies."""

    tags: int
    questions: int | None = None  # held-out test questions
    first_right: float | None = None  # P@1
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    in_vocabulary: float | None = None  # share of real tags it can produce at all
    titles_first_right: float | None = None
    bodies_first_right: float | None = None
    latency_ms: float | None = None  # median on this site
    answers: int = 0
    every_tag: bool = False  # measured over every real tag (a tag it cannot give is a miss), or only its own


def measured(predictor: Predictor, latency: tuple[float | None, int]) -> Measured:
    """Its figures on the open test questions, every real tag counted, where every model is
    scored (``open_test`` for a model whose own test split is another, the baseline's 100 tags)."""
    metrics: dict[str, Any] = (predictor.metadata or {}).get("metrics") or {}
    test: dict[str, Any] = metrics.get("test") or {}
    if not isinstance(test.get("all"), dict) and isinstance((metrics.get("open_test") or {}).get("all"), dict):
        test = metrics["open_test"]
    overall: dict[str, Any] = test["all"] if isinstance(test.get("all"), dict) else test
    found = Measured(tags=len(predictor.labels), latency_ms=latency[0], answers=latency[1])
    found.every_tag = isinstance(test.get("all"), dict)
    found.questions = overall.get("n_samples")
    found.first_right = overall.get("precision_at_1")
    found.precision, found.recall = overall.get("micro_precision"), overall.get("micro_recall")
    found.f1 = overall.get("micro_f1")
    found.in_vocabulary = test.get("gold_in_vocabulary")
    for part in ("titles", "bodies"):
        if isinstance(test.get(part), dict):
            setattr(found, f"{part}_first_right", test[part].get("precision_at_1"))
    return found


def site_latencies(names: list[str]) -> dict[str, tuple[float | None, int]]:
    """Each model's median latency on this site and its number of answers, from the /stats totals."""
    histograms = read_histograms(db.session)
    return {
        name: (percentile(histograms.get(name, []), 50), sum(n for _, n in histograms.get(name, []))) for name in names
    }


def plain_words(found: Measured) -> list[str]:
    """Sentences a non-expert can read, each backed by a measured figure."""
    sentences = [f"It knows {found.tags:,} tags."]
    if found.first_right is not None and found.questions:
        counted = "" if found.every_tag else f", counting only the {found.tags:,} tags it knows,"
        sentences.append(
            f"On {found.questions:,} real questions it had never seen{counted} its first tag was right "
            f"{found.first_right:.0%} of the time."
        )
    if found.precision is not None and found.recall is not None:
        sentences.append(
            f"Of all the tags it suggested, {found.precision:.0%} were right, and it found "
            f"{found.recall:.0%} of the tags the questions really had."
        )
    if found.in_vocabulary is not None:
        sentences.append(
            f"{found.in_vocabulary:.0%} of real tags are among the ones it knows; it cannot suggest the rest."
        )
    if found.titles_first_right is not None and found.bodies_first_right is not None:
        better, worse = (
            ("a body", "a title alone")
            if found.bodies_first_right >= found.titles_first_right
            else ("a title alone", "a body")
        )
        high, low = sorted((found.bodies_first_right, found.titles_first_right), reverse=True)
        sentences.append(f"It does better with {better} (first tag right {high:.0%}) than with {worse} ({low:.0%}).")
    if found.latency_ms is not None:
        took = f"{found.latency_ms:,.1f}" if found.latency_ms < 10 else f"{found.latency_ms:,.0f}"
        answers = "its one answer" if found.answers == 1 else f"the median of {found.answers:,} answers"
        sentences.append(f"On this site it answers in {took} ms ({answers}).")
    else:
        sentences.append("Its speed on this site is not measured yet: nobody has asked it a question here.")
    return sentences


def best_at(all_measured: dict[str, Measured]) -> dict[str, list[str]]:
    """Which model is the most accurate and which the fastest, when there is a choice. Only
    figures measured over every real tag compare fairly: a model measured on its own 100
    tags would look better than one that knows thousands."""
    badges: dict[str, list[str]] = {name: [] for name in all_measured}
    if len(all_measured) < 2:
        return badges
    scored = {name: m.f1 for name, m in all_measured.items() if m.f1 is not None and m.every_tag}
    if len(scored) > 1:
        badges[max(scored, key=lambda name: scored[name])].append("most accurate")
    timed = {name: m.latency_ms for name, m in all_measured.items() if m.latency_ms is not None}
    if len(timed) > 1:
        badges[min(timed, key=lambda name: timed[name])].append("fastest")
    return badges


@dataclass
class TagTable:
    rows: list[dict[str, Any]]
    total: int  # rows matching the filter
    page: int
    pages: int
    has_metrics: bool


def parse_table_args(args) -> tuple[str, str, int]:
    """``q``, ``sort`` and ``page`` from the query string, or an InputError naming what is wrong."""
    query = args.get("q", "").strip()
    sort = args.get("sort", "rank")
    errors = {}
    if len(query) > MAX_QUERY:
        errors["q"] = f"Search for at most {MAX_QUERY} characters."
    if sort.removeprefix("-") not in SORTS:
        errors["sort"] = f"Sort by one of {', '.join(SORTS)} (a leading - reverses it), not {sort!r}."
    raw_page = args.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and len(raw_page) < 7 else 0
    if page < 1:
        errors["page"] = f"The page is a whole number from 1, not {raw_page!r}."
    if errors:
        raise InputError(errors)
    return query, sort, page


def tag_table(predictor: Predictor, query: str, sort: str, page: int) -> TagTable:
    test = ((predictor.metadata or {}).get("metrics") or {}).get("test") or {}
    per_tag = {row["tag"]: row for row in test.get("per_tag") or [] if isinstance(row, dict) and "tag" in row}
    rows = [{"rank": rank, "tag": tag, **per_tag.get(tag, {})} for rank, tag in enumerate(predictor.labels, 1)]
    if query:
        needle = query.casefold()
        rows = [row for row in rows if needle in row["tag"].casefold()]
    key = sort.removeprefix("-")
    missing = -math.inf if sort.startswith("-") else math.inf  # rows without the figure go last
    rows.sort(key=lambda row: (row.get(key, missing), row["rank"]) if key != "tag" else row["tag"])
    if sort.startswith("-"):
        rows.reverse()
    pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
    if page > pages:
        raise InputError({"page": f"There are {pages:,} page(s) of tags here, not {page:,}."})
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return TagTable(shown, len(rows), page, pages, bool(per_tag))


def next_sort(column: str, current: str) -> str:
    """The sort a column header links to: its own direction first (names A-Z, the vocabulary
    order, metrics highest first), then the other way."""
    first = column if column in ("rank", "tag") else f"-{column}"
    return ("-" + first).replace("--", "") if current == first else first


@bp.get("/models")
def index():
    states = models().states()
    latencies = site_latencies([state.name for state in states])
    found = {state.name: measured(state.predictor, latencies[state.name]) for state in states if state.predictor}
    words = {name: plain_words(figures) for name, figures in found.items()}
    return render_template("models.html", states=states, words=words, best=best_at(found))


@bp.get("/models/<name>/tags")
def tags(name: str):
    if name not in model_names():
        abort(404, description=f"There is no model called {name!r}.")
    state = models().state(name)
    if state.predictor is None:
        abort(503, description=state.message)
    query, sort, page = parse_table_args(request.args)
    table = tag_table(state.predictor, query, sort, page)
    return render_template("model_tags.html", state=state, table=table, query=query, sort=sort, next_sort=next_sort)
