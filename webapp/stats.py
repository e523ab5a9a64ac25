"""The numbers on the stats page: usage, how often each pair of models agrees, how often
each model is right on the questions people reviewed. Read from running totals kept as
the rows are written (webapp/counters.py), so the page costs the same at any size."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

from ml.registry import model_names

from .counters import percentile, read_counters, read_histograms
from .extensions import db


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
    first: str
    second: str
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
    agreements: list[Agreement] = field(default_factory=list)  # one per pair of models


def compute() -> Stats:
    """Read from the running totals (webapp/counters.py): a few dozen counters, a latency
    histogram per model and two index lookups per model, however many questions are stored."""
    session = db.session
    names = model_names()
    counters = read_counters(session)
    histograms = read_histograms(session)

    def count(name: str) -> int:
        return int(counters.get(name, 0))

    stats = Stats(questions=count("questions"), reviewed=count("reviewed"))
    for name in names:
        histogram = histograms.get(name, [])
        prefix = f"model:{name}"
        stats.models[name] = ModelStats(
            name,
            answers=sum(answers for _, answers in histogram),
            latency_p50_ms=percentile(session, name, histogram, 50),
            latency_p95_ms=percentile(session, name, histogram, 95),
            reviewed=count(f"{prefix}:reviewed"),
            judged=count(f"{prefix}:judged"),
            correct=count(f"{prefix}:correct"),
            missed=count(f"{prefix}:missed"),
        )
    for first, second in combinations(names, 2):
        prefix = "pair:{}:{}".format(*sorted((first, second)))
        stats.agreements.append(
            Agreement(
                first,
                second,
                questions=count(f"{prefix}:questions"),
                same_top=count(f"{prefix}:same_top"),
                jaccard_sum=counters.get(f"{prefix}:jaccard", 0.0),
            )
        )
    return stats
