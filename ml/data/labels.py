"""Choosing the label vocabulary: top-N tags, minimum count, top-M tag combinations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ml.data.records import Question


@dataclass
class LabelSelection:
    questions: list[Question]
    labels: list[str]  # most frequent first
    stats: dict = field(default_factory=dict)


def tag_counts(questions: Iterable[Question]) -> Counter:
    return Counter(tag for q in questions for tag in q.tags)


def _ranked(counter: Counter) -> list:
    # Ties broken by key so the vocabulary is the same on every run.
    return sorted(counter, key=lambda key: (-counter[key], sorted(key) if isinstance(key, frozenset) else key))


def select_labels(
    questions: Sequence[Question],
    top_n: int | None = None,
    min_count: int = 1,
    top_combinations: int | None = None,
) -> LabelSelection:
    """Restrict questions to a tag vocabulary; questions left with no tag are dropped.

    ``top_combinations`` follows the StackSample study's protocol: first keep only the
    questions whose whole tag set is one of the M most frequent tag sets, then pick tags.
    """
    if top_n is not None and top_n < 1:
        raise ValueError("top_n must be at least 1")
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    n_input = len(questions)
    n_tags_in = len(tag_counts(questions))  # before any filtering, like questions_in
    if top_combinations is not None:
        if top_combinations < 1:
            raise ValueError("top_combinations must be at least 1")
        combos = Counter(frozenset(q.tags) for q in questions if q.tags)
        kept_combos = set(_ranked(combos)[:top_combinations])
        questions = [q for q in questions if frozenset(q.tags) in kept_combos]

    counts = tag_counts(questions)
    labels = [tag for tag in _ranked(counts) if counts[tag] >= min_count][:top_n]
    vocabulary = set(labels)
    selected = []
    for q in questions:
        tags = tuple(tag for tag in q.tags if tag in vocabulary)
        if tags:
            selected.append(q if tags == q.tags else Question(q.title, tags, q.body))
    stats = {
        "questions_in": n_input,
        "questions_kept": len(selected),
        "tags_in": n_tags_in,
        "tags_kept": len(labels),
        "top_n": top_n,
        "min_count": min_count,
        "top_combinations": top_combinations,
    }
    return LabelSelection(selected, labels, stats)
