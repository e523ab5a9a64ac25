"""The numbers on the stats page: usage, how often each pair of models agrees, how often
each model is right on the questions people reviewed, and how these change over time (per
day, per model version and week) and per tag. Read from running totals kept as the rows
are written (webapp/stats/counters.py), so the page costs the same at any number of questions."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import combinations

from ml.registry import model_names
from webapp.core.catalogue import site_catalogue
from webapp.core.extensions import db
from webapp.stats.counters import percentile, read_counters, read_histograms, read_tag_counters


class Judged:
    """Precision and recall from counts of judged suggestions: ``judged`` suggested tags that
    have a verdict, ``correct`` of them right, ``missed`` right tags not suggested."""

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


@dataclass
class ModelStats(Judged):
    name: str
    answers: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    reviewed: int = 0  # reviewed questions this model answered
    judged: int = 0  # its suggested tags that have a verdict
    correct: int = 0  # ... of which were accepted
    missed: int = 0  # right tags of those questions it did not suggest


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
class Day:
    day: str  # YYYY-MM-DD
    questions: int = 0  # asked that day
    reviewed: int = 0  # whose latest review is from that day


@dataclass
class VersionWeek(Judged):
    """One model version's answers on the questions whose latest review fell in one week."""

    model: str
    version: str
    week: str  # its Monday, YYYY-MM-DD
    reviewed: int = 0
    judged: int = 0
    correct: int = 0
    missed: int = 0


@dataclass
class TagCount:
    tag: str
    suggested: int = 0  # answers that suggested it
    rejected: int = 0  # latest reviews that rejected it
    added: int = 0  # latest reviews that added it (no model had suggested it)


@dataclass
class Stats:
    questions: int = 0
    reviewed: int = 0
    models: dict[str, ModelStats] = field(default_factory=dict)
    agreements: list[Agreement] = field(default_factory=list)  # one per pair of models
    days: dict[str, Day] = field(default_factory=dict)  # days with a question or a review
    weeks: dict[tuple[str, str, str], VersionWeek] = field(default_factory=dict)  # by (model, version, week)
    # The tags shown: the most suggested, rejected and added ones (compute), or all of them.
    tags: dict[str, TagCount] = field(default_factory=dict)

    def recent_days(self, span: int = 90) -> list[Day]:
        """Every day of the last ``span`` days up to the latest one with data, empty ones too."""
        if not self.days:
            return []
        last = date.fromisoformat(max(self.days))
        first = max(date.fromisoformat(min(self.days)), last - timedelta(days=span - 1))
        days = (first + timedelta(days=offset) for offset in range((last - first).days + 1))
        return [self.days.get(day.isoformat(), Day(day.isoformat())) for day in days]

    def top_tags(self, by: str, count: int = 10, unknown_to: Collection[str] | None = None) -> list[TagCount]:
        """The ``count`` tags with the most ``by`` (suggested, rejected, added), ties by name;
        ``unknown_to``: only tags not in this vocabulary."""
        tags = [tag for tag in self.tags.values() if getattr(tag, by) > 0]
        if unknown_to is not None:
            tags = [tag for tag in tags if tag.tag not in unknown_to]
        return sorted(tags, key=lambda tag: (-getattr(tag, by), tag.tag))[:count]

    def version_series(self) -> dict[tuple[str, str], list[VersionWeek]]:
        """Each (model, version)'s weeks in order."""
        series: dict[tuple[str, str], list[VersionWeek]] = {}
        for key in sorted(self.weeks):
            week = self.weeks[key]
            series.setdefault((week.model, week.version), []).append(week)
        return series


TOP_TAGS = 10
# Added tags read to find the ones no model knows: the most added first, so the unknown
# ones among them are the most added unknown ones.
ADDED_CANDIDATES = 200


def compute() -> Stats:
    """Read from the running totals (webapp/stats/counters.py): a few dozen counters, a latency
    histogram per model and the counters of the tags shown, however many questions are stored."""
    session = db.session
    names = model_names()
    catalogue = site_catalogue()
    counters = read_counters(session) | read_tag_counters(session, TOP_TAGS, ADDED_CANDIDATES, catalogue.names_of)
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
            latency_p50_ms=percentile(histogram, 50),
            latency_p95_ms=percentile(histogram, 95),
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
    read_over_time(stats, counters)
    stats.tags = under_todays_names(stats.tags, catalogue.canonical)
    return stats


def under_todays_names(tags: dict[str, TagCount], canonical: Callable[[str], str]) -> dict[str, TagCount]:
    """The counts of a tag's older names (answers stored as tsql before it became t-sql)
    added to its name of today, so that one tag is one bar."""
    merged: dict[str, TagCount] = {}
    for tag, found in tags.items():
        name = canonical(tag)
        total = merged.setdefault(name, TagCount(name))
        total.suggested += found.suggested
        total.rejected += found.rejected
        total.added += found.added
    return merged


def read_over_time(stats: Stats, counters: dict[str, float]) -> None:
    """The day, week and tag counters (see webapp/stats/counters.py for their names); a counter
    taken back to zero is as good as none."""
    for name, value in counters.items():
        if not value:
            continue
        kind, _, rest = name.partition(":")
        if kind == "day":
            day, _, what = rest.partition(":")
            setattr(stats.days.setdefault(day, Day(day)), what, int(value))
        elif kind == "week":
            week, model, what, version = rest.split(":", 3)
            found = stats.weeks.setdefault((model, version, week), VersionWeek(model, version, week))
            setattr(found, what, int(value))
        elif kind == "tag":
            tag, _, what = rest.rpartition(":")
            setattr(stats.tags.setdefault(tag, TagCount(tag)), what, int(value))
