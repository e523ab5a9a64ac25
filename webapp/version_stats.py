"""Precision and recall of each model version over time, on the questions people reviewed:
whether a retrained version does better than the one before.

Every stored answer keeps the version that made it (``model_answers.model_version``), so
the figures are those of ``stats``' running totals, split by version and by the day (or
ISO week) the answer was made. Unlike those totals this reads rows: only the questions
asked in the last ``WINDOW_DAYS`` (``predictions.created_at`` is indexed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text

from .counters import RIGHT
from .extensions import db
from .tables import utc_now

WINDOW_DAYS = 84
PERIODS = ("day", "week")

# Per answer of a reviewed question, as counters.rebuild counts them for the whole model:
# its distinct tags that have a verdict (judged), those that are right (correct), and the
# question's right tags (missed = right - correct).
_QUERY = text(
    "SELECT a.model, a.model_version, date(a.created_at) AS day, count(*) AS reviewed,"
    " coalesce(sum(j.judged), 0) AS judged, coalesce(sum(j.correct), 0) AS correct,"
    " coalesce(sum(r.right_tags), 0) - coalesce(sum(j.correct), 0) AS missed"
    " FROM predictions p JOIN model_answers a ON a.prediction_id = p.id"
    " LEFT JOIN (SELECT answer_id, count(*) AS judged,"
    "   sum(CASE WHEN verdict IN (:accepted, :added) THEN 1 ELSE 0 END) AS correct"
    "  FROM (SELECT DISTINCT s.answer_id, s.tag, r.verdict FROM reviewed_tags r"
    "   JOIN model_answers a ON a.prediction_id = r.prediction_id"
    "   JOIN predictions p ON p.id = r.prediction_id AND p.created_at >= :since AND p.reviewed_at IS NOT NULL"
    "   JOIN suggested_tags s ON s.answer_id = a.id AND s.tag = r.tag) AS verdicts"
    "  GROUP BY answer_id) AS j ON j.answer_id = a.id"
    " LEFT JOIN (SELECT prediction_id, count(*) AS right_tags FROM reviewed_tags"
    "  WHERE verdict IN (:accepted, :added) GROUP BY prediction_id) AS r ON r.prediction_id = p.id"
    " WHERE p.created_at >= :since AND p.reviewed_at IS NOT NULL"
    " GROUP BY a.model, a.model_version, date(a.created_at)"
)


@dataclass(frozen=True)
class VersionPeriod:
    model: str
    model_version: str
    period: date  # the first day of the day or ISO week
    reviewed: int  # reviewed questions this version answered in the period
    judged: int
    correct: int
    missed: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.judged if self.judged else None

    @property
    def recall(self) -> float | None:
        found = self.correct + self.missed
        return self.correct / found if found else None

    def to_dict(self) -> dict:
        return dict(asdict(self), period=self.period.isoformat(), precision=self.precision, recall=self.recall)


def by_version(period: str = "week", days: int = WINDOW_DAYS) -> list[VersionPeriod]:
    """One row per (model, model version, day or week), oldest period first."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    since = utc_now() - timedelta(days=days)
    rows = db.session.execute(_QUERY, {"accepted": RIGHT[0], "added": RIGHT[1], "since": since})
    totals: dict[tuple[str, str, date], list[int]] = {}
    for model, version, day, reviewed, judged, correct, missed in rows:
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
