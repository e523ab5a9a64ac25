"""The numbers on the stats page: usage, how often the models agree, how often they are
right on the questions people reviewed."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from ml.models import MODEL_NAMES

from .extensions import db
from .tables import ModelAnswer, Prediction


@dataclass
class ModelStats:
    name: str
    answers: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    reviewed: int = 0  # reviewed questions this model answered
    judged: int = 0  # its suggested tags that have a verdict
    correct: int = 0  # ... of which were accepted
    missed: int = 0  # right tags of those questions it did not suggest

    @property
    def precision(self) -> float | None:
        return self.correct / self.judged if self.judged else None

    @property
    def recall(self) -> float | None:
        found = self.correct + self.missed
        return self.correct / found if found else None


@dataclass
class Agreement:
    questions: int = 0  # answered by both models
    same_top: int = 0  # both put the same tag first
    jaccard_sum: float = 0.0

    @property
    def top_rate(self) -> float | None:
        return self.same_top / self.questions if self.questions else None

    @property
    def mean_jaccard(self) -> float | None:
        return self.jaccard_sum / self.questions if self.questions else None


@dataclass
class Stats:
    questions: int = 0
    reviewed: int = 0
    models: dict[str, ModelStats] = field(default_factory=dict)
    agreement: Agreement = field(default_factory=Agreement)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: an actual observed latency, never an interpolation."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil without floats drifting
    return sorted_values[int(rank) - 1]


def compute() -> Stats:
    stats = Stats(models={name: ModelStats(name) for name in MODEL_NAMES})
    stats.questions = db.session.scalar(select(func.count(Prediction.id))) or 0
    stats.reviewed = (
        db.session.scalar(select(func.count(Prediction.id)).where(Prediction.reviewed_at.is_not(None))) or 0
    )
    for name, model in stats.models.items():
        latencies = list(
            db.session.scalars(
                select(ModelAnswer.latency_ms).where(ModelAnswer.model == name).order_by(ModelAnswer.latency_ms)
            )
        )
        model.answers = len(latencies)
        model.latency_p50_ms = percentile(latencies, 50)
        model.latency_p95_ms = percentile(latencies, 95)

    both = (
        select(Prediction)
        .where(*(Prediction.answers.any(ModelAnswer.model == name) for name in MODEL_NAMES))
        .execution_options(yield_per=500)
    )
    for prediction in db.session.scalars(both):
        tag_sets = [prediction.answer(name).tag_names() for name in MODEL_NAMES]
        stats.agreement.questions += 1
        stats.agreement.same_top += bool(tag_sets[0] and tag_sets[1] and tag_sets[0][0] == tag_sets[1][0])
        union = set(tag_sets[0]) | set(tag_sets[1])
        stats.agreement.jaccard_sum += len(set(tag_sets[0]) & set(tag_sets[1])) / len(union) if union else 1.0

    reviewed = select(Prediction).where(Prediction.reviewed_at.is_not(None)).execution_options(yield_per=500)
    for prediction in db.session.scalars(reviewed):
        verdicts = prediction.verdicts()
        right = set(prediction.right_tags())
        for answer in prediction.answers:
            model = stats.models.get(answer.model)
            if model is None:
                continue
            suggested = set(answer.tag_names())
            # A tag suggested after the review (another model run later) has no verdict
            # yet: it counts neither for nor against the model.
            judged = suggested & verdicts.keys()
            model.reviewed += 1
            model.judged += len(judged)
            model.correct += len(judged & right)
            model.missed += len(right - suggested)
    return stats
