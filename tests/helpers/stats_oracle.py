"""The /stats figures computed the way the site did before it kept running totals: every
question read into Python. Kept here as the oracle the totals are checked against (too
slow for the site at scale: 3.6 minutes at 100,000 questions)."""

from __future__ import annotations

from itertools import combinations

from sqlalchemy import func, select

from ml.registry import model_names
from webapp.core.catalogue import site_catalogue
from webapp.core.extensions import db
from webapp.core.tables import ModelAnswer, Question
from webapp.stats.counters import bucket_floor, latency_bucket, week_of
from webapp.stats.figures import Agreement, Day, ModelStats, Stats, TagCount, VersionWeek


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (an observed latency, never an interpolation), to the three
    significant digits the site keeps."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil without floats drifting
    return bucket_floor(latency_bucket(sorted_values[int(rank) - 1]))


def compute() -> Stats:
    names = model_names()
    stats = Stats(models={name: ModelStats(name) for name in names})
    stats.questions = db.session.scalar(select(func.count(Question.id))) or 0
    stats.reviewed = db.session.scalar(select(func.count(Question.id)).where(Question.reviewed_at.is_not(None))) or 0
    for name, model in stats.models.items():
        latencies = list(
            db.session.scalars(
                select(ModelAnswer.latency_ms).where(ModelAnswer.model == name).order_by(ModelAnswer.latency_ms)
            )
        )
        model.answers = len(latencies)
        model.latency_p50_ms = percentile(latencies, 50)
        model.latency_p95_ms = percentile(latencies, 95)
    stats.agreements = [agreement(first, second) for first, second in combinations(names, 2)]
    canonical = site_catalogue().canonical

    every = select(Question).execution_options(yield_per=500)
    for question in db.session.scalars(every):
        asked = question.created_at.date().isoformat()
        stats.days.setdefault(asked, Day(asked)).questions += 1
        for answer in question.answers:
            for tag in dict.fromkeys(map(canonical, answer.tag_names())):  # under today's names
                stats.tags.setdefault(tag, TagCount(tag)).suggested += 1
        if question.reviewed_at is None:
            continue
        day = question.reviewed_at.date().isoformat()
        stats.days.setdefault(day, Day(day)).reviewed += 1
        verdicts = question.verdicts()
        for tag, verdict in verdicts.items():
            if verdict in ("rejected", "added"):
                count = stats.tags.setdefault(canonical(tag), TagCount(canonical(tag)))
                setattr(count, verdict, getattr(count, verdict) + 1)
        right = set(question.right_tags())
        week = week_of(question.reviewed_at).isoformat()
        for answer in question.answers:
            suggested = set(answer.tag_names())
            # A tag suggested after the review (another model run later) has no verdict
            # yet: it counts neither for nor against the model.
            judged = suggested & verdicts.keys()
            key = (answer.model, answer.model_version, week)
            for totals in (stats.models.get(answer.model), stats.weeks.setdefault(key, VersionWeek(*key))):
                if totals is None:
                    continue
                totals.reviewed += 1
                totals.judged += len(judged)
                totals.correct += len(judged & right)
                totals.missed += len(right - suggested)
    return stats


def agreement(first: str, second: str) -> Agreement:
    """How often two models put the same tag first, and how much their tag sets overlap."""
    found = Agreement(first, second)
    both = (
        select(Question)
        .where(Question.answers.any(ModelAnswer.model == first), Question.answers.any(ModelAnswer.model == second))
        .execution_options(yield_per=500)
    )
    for question in db.session.scalars(both):
        one, other = (answer.tag_names() if answer else [] for answer in map(question.answer, (first, second)))
        found.questions += 1
        found.same_top += bool(one and other and one[0] == other[0])
        union = set(one) | set(other)
        found.jaccard_sum += len(set(one) & set(other)) / len(union) if union else 1.0
    return found
