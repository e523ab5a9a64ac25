"""Deterministic train/validation/test split that keeps every tag's share in each part.

Iterative stratification after Sechidis, Tsoumakas & Vlahavas (2011), "On the
stratification of multi-label data": rare labels are placed first, so each part
gets its fair share of them before the common labels fill the remaining room.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import scipy.sparse as sp

from ml.data.records import Question

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def label_matrix(
    label_sets: Sequence[Iterable[str]], labels: Sequence[str] | None = None
) -> tuple[sp.csr_matrix, list[str]]:
    """Binary examples x labels matrix; labels default to every tag seen, sorted.

    Tags missing from an explicit ``labels`` list are ignored.
    """
    if labels is None:
        labels = sorted({tag for tags in label_sets for tag in tags})
    labels = list(labels)
    column = {tag: i for i, tag in enumerate(labels)}
    rows = [sorted({column[tag] for tag in tags if tag in column}) for tags in label_sets]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(row) for row in rows], out=indptr[1:])
    indices = np.fromiter((i for row in rows for i in row), dtype=np.int64, count=int(indptr[-1]))
    data = np.ones(len(indices), dtype=np.int32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), len(labels))), labels


def _as_label_matrix(label_sets) -> sp.csr_matrix:
    if sp.issparse(label_sets) or isinstance(label_sets, np.ndarray):
        return sp.csr_matrix(label_sets, dtype=bool).astype(np.int32)
    return label_matrix(label_sets)[0]


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    fractions = tuple(float(f) for f in fractions)
    if not fractions or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    return fractions


def _take_turns(label_desire: list[float] | None, total_desire: list[float], ties: list[list[float]]) -> list[int]:
    """Part for each of ``len(ties)`` examples in turn: most wanted for the label, then overall.

    ``ties`` holds one random number per example and part, so exact ties fall to chance
    (yet to the seed). Both desire lists are decremented in place.
    """
    parts = range(len(total_desire))
    chosen = []
    for tie in ties:
        if label_desire is None:
            part = max(parts, key=lambda j: (total_desire[j], tie[j]))
        else:
            part = max(parts, key=lambda j: (label_desire[j], total_desire[j], tie[j]))
            label_desire[part] -= 1
        total_desire[part] -= 1
        chosen.append(part)
    return chosen


def iterative_split(label_sets, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> list[np.ndarray]:
    """Split examples into ``len(fractions)`` parts stratified on every label.

    ``label_sets`` is a list of tag tuples or an examples x labels indicator matrix.
    Returns one ascending index array per part; each example is in exactly one.
    """
    fractions = _check_fractions(fractions)
    by_example = _as_label_matrix(label_sets)
    by_label = by_example.tocsc()
    n_examples, n_labels = by_example.shape
    n_parts = len(fractions)
    rng = np.random.default_rng(seed)
    share = np.array(fractions)

    remaining = np.asarray(by_label.sum(axis=0)).ravel().astype(np.int64)
    label_desire = np.outer(share, remaining.astype(float))
    total_desire = (share * n_examples).tolist()
    part_of = np.full(n_examples, -1, dtype=np.int64)
    exhausted = np.iinfo(np.int64).max

    while remaining.any():
        label = int(np.where(remaining > 0, remaining, exhausted).argmin())
        members = by_label.indices[by_label.indptr[label] : by_label.indptr[label + 1]]
        members = rng.permutation(members[part_of[members] < 0])
        ties = rng.random((len(members), n_parts)).tolist()
        chosen = np.array(_take_turns(label_desire[:, label].tolist(), total_desire, ties))
        part_of[members] = chosen
        # Only this label's desire steered the choices above, so the other labels
        # these examples carry can be settled in bulk afterwards.
        for part in range(n_parts):
            carried = by_example[members[chosen == part]].indices
            label_desire[part] -= np.bincount(carried, minlength=n_labels)
        remaining -= np.bincount(by_example[members].indices, minlength=n_labels)

    unlabelled = rng.permutation(np.flatnonzero(part_of < 0))
    ties = rng.random((len(unlabelled), n_parts)).tolist()
    part_of[unlabelled] = _take_turns(None, total_desire, ties)
    return [np.flatnonzero(part_of == part) for part in range(n_parts)]


def data_hash(questions: Iterable[Question]) -> str:
    """sha256 of every question's (title, body, sorted tags), in order, format-independent."""
    digest = hashlib.sha256()
    for question in questions:
        record = [question.title, question.body, sorted(question.tags)]
        digest.update(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class Split:
    """Index arrays into the question list, plus what they were computed from."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    data_hash: str
    seed: int
    fractions: tuple[float, float, float]

    @property
    def n_total(self) -> int:
        return len(self.train) + len(self.validation) + len(self.test)

    def save(self, path: str | Path) -> Path:
        """JSON with validation and test indices only; train is everything else."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "data_hash": self.data_hash,
            "seed": self.seed,
            "fractions": list(self.fractions),
            "n_total": self.n_total,
            "validation": self.validation.tolist(),
            "test": self.test.tolist(),
        }
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Split:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        n_total = int(record["n_total"])
        validation = np.array(sorted(record["validation"]), dtype=np.int64)
        test = np.array(sorted(record["test"]), dtype=np.int64)
        held_out = np.concatenate([validation, test])
        in_range = bool(np.all((held_out >= 0) & (held_out < n_total)))
        if not in_range or len(np.unique(held_out)) != len(held_out):
            raise ValueError(f"{path}: validation/test indices overlap or fall outside 0..{n_total - 1}")
        return cls(
            train=np.setdiff1d(np.arange(n_total), held_out),
            validation=validation,
            test=test,
            data_hash=record["data_hash"],
            seed=int(record["seed"]),
            # Written from a Split's own 3 fractions; a file holding some other count loads as before and
            # then fails make_or_load_split's comparison, which recomputes the split.
            fractions=cast(tuple[float, float, float], tuple(float(f) for f in record["fractions"])),
        )


def make_or_load_split(
    questions: Iterable[Question],
    path: str | Path | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> Split:
    """The saved split at ``path`` if it was made from exactly this data and settings, else a new one."""
    questions = list(questions)
    fractions = _check_fractions(fractions)
    if len(fractions) != 3:
        raise ValueError(f"a train/validation/test split needs 3 fractions, got {fractions}")
    digest = data_hash(questions)
    if path is not None and Path(path).exists():
        try:
            saved = Split.load(path)
        except (OSError, ValueError, KeyError, TypeError):
            saved = None  # unreadable or stale format: recompute and overwrite below
        if saved is not None and (saved.data_hash, saved.n_total, saved.seed, saved.fractions) == (
            digest,
            len(questions),
            seed,
            fractions,
        ):
            return saved
    train, validation, test = iterative_split([q.tags for q in questions], fractions, seed)
    split = Split(train, validation, test, digest, seed, fractions)
    if path is not None:
        split.save(path)
    return split
