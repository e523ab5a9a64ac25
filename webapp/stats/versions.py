"""Precision and recall of each model version over time, on the questions people reviewed:
whether a retrained version does better than the one before.

Every stored answer keeps the version that made it (``model_answers.model_version``), so
the figures are those of ``stats``' running totals, split by version and by the day (or
ISO week) the answer was made. Unlike those totals this reads rows: the answers to the
questions reviewed in the last ``WINDOW_DAYS`` (``predictions.reviewed_at`` is indexed),
slow enough on a big history that each worker keeps the result for ``CACHE_S``: /stats
pays it at most once a minute.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text

from webapp.core.extensions import db
from webapp.core.tables import utc_now
from webapp.stats.counters import RIGHT
from webapp.stats.figures import Judged, Stats

WINDOW_DAYS = 84
CACHE_S = 60.0
_cache: dict[tuple[str, str, int], tuple[float, list[VersionPeriod]]] = {}
PERIODS = ("day", "week")

# Per answer of a reviewed question, as counters.rebuild counts them for the whole model:
# its distinct tags that have a verdict (judged), those that are right (correct), and the
# question's right tags (missed = right - correct). Driven by the recent reviewed questions
# (the created_at index), each figure an index lookup per answer: the cost follows the
# questions in the window, not the whole history.
_JUDGED = (
    "(SELECT count(DISTINCT s.tag) FROM suggested_tags s"
    " JOIN reviewed_tags r ON r.prediction_id = p.id AND r.tag = s.tag"
    " WHERE s.answer_id = a.id{right})"
)
_QUERY = text(
    "SELECT model, model_version, day, count(*), sum(judged), sum(correct), sum(right_tags)"
    " FROM (SELECT a.model, a.model_version, date(a.created_at) AS day,"
    f"  {_JUDGED.format(right='')} AS judged,"
    f"  {_JUDGED.format(right=' AND r.verdict IN (:accepted, :added)')} AS correct,"
    "  (SELECT count(*) FROM reviewed_tags r WHERE r.prediction_id = p.id"
    "   AND r.verdict IN (:accepted, :added)) AS right_tags"
    "  FROM predictions p JOIN model_answers a ON a.prediction_id = p.id"
    "  WHERE p.reviewed_at >= :since) AS per_answer"
    " GROUP BY model, model_version, day"
)


@dataclass(frozen=True)
class VersionPeriod(Judged):
    model: str
    model_version: str
    period: date  # the first day of the day or ISO week
    reviewed: int  # reviewed questions this version answered in the period
    judged: int
    correct: int
    missed: int

    def to_dict(self) -> dict:
        return dict(asdict(self), period=self.period.isoformat(), precision=self.precision, recall=self.recall)


def from_totals(stats: Stats, days: int = WINDOW_DAYS) -> list[VersionPeriod]:
    """The same table by week of the latest review, read from /stats' running totals
    (``stats.weeks``): what /stats shows, at the same cost at any size. ``by_version``
    reads rows (by the day or week the answer was made) and is for the JSON only: its cost
    grows with the history."""
    since = (utc_now() - timedelta(days=days)).date()
    rows = [
        VersionPeriod(week.model, week.version, start, week.reviewed, week.judged, week.correct, week.missed)
        for week in stats.weeks.values()
        if week.reviewed and (start := date.fromisoformat(week.week)) >= since - timedelta(days=6)
    ]
    return sorted(rows, key=lambda row: (row.period, row.model, row.model_version))


def by_version(period: str = "week", days: int = WINDOW_DAYS) -> list[VersionPeriod]:
    """One row per (model, model version, day or week), oldest period first; at most
    ``CACHE_S`` old."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    key = (db.engine.url.render_as_string(), period, days)
    now = time.monotonic()
    cached = _cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    rows = _compute(period, days)
    _cache[key] = (now + CACHE_S, rows)
    return rows


def _compute(period: str, days: int) -> list[VersionPeriod]:
    since = utc_now() - timedelta(days=days)
    rows = db.session.execute(_QUERY, {"accepted": RIGHT[0], "added": RIGHT[1], "since": since})
    totals: dict[tuple[str, str, date], list[int]] = {}
    for model, version, day, reviewed, judged, correct, right_tags in rows:
        missed = int(right_tags) - int(correct)
        start = _day(day)
        if period == "week":
            start -= timedelta(days=start.weekday())
        found = totals.setdefault((model, version, start), [0, 0, 0, 0])
        for i, value in enumerate((reviewed, judged, correct, missed)):
            found[i] += int(value)
    return [
        VersionPeriod(model, version, start, *counts)
        for (model, version, start), counts in sorted(totals.items(), key=lambda item: (item[0][2], item[0][:2]))
    ]


def _day(value: date | datetime | str) -> date:
    """SQLite's date() is text, PostgreSQL's a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
