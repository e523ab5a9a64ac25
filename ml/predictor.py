"""The one interface every model implements, so callers never know which model they use.

Serving needs ``load`` and ``predict``; ``train`` and its options are class methods that
import the training code only when called, so the website never loads it.
"""

from __future__ import annotations

import argparse
import functools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ml.errors import ArtifactError, UsageError

# Stack Overflow allows at most five tags on a question.
DEFAULT_TOP_K = 5
MAX_TOP_K = 20

Suggestions = list[list[tuple[str, float]]]
# Why a model suggests a tag: {"kind": "words" | "phrase" | "reviewed" | "similar", "text": ...,
# "weight": float, ...}; each kind may add its own keys (e.g. "question_id" for "reviewed").
Reason = dict[str, Any]


class Suggestion(NamedTuple):
    tag: str
    score: float
    confident: bool  # False: below its threshold, kept only as the top-1 fallback


def decide(
    scores: np.ndarray,
    thresholds: np.ndarray | float,
    top_k: int = DEFAULT_TOP_K,
    ensure_one: bool = True,
) -> np.ndarray:
    """Boolean matrix of chosen tags: score >= threshold, at most ``top_k`` best per row,
    and the single best tag when nothing passes (unless ``ensure_one`` is False)."""
    if top_k < 1:
        raise ValueError("top_k must be at least 1")
    chosen = scores >= thresholds
    n_rows, n_labels = scores.shape
    if n_rows == 0 or n_labels == 0:
        return chosen
    if top_k < n_labels:
        best = np.argpartition(-scores, top_k - 1, axis=1)[:, :top_k]
        in_top = np.zeros_like(chosen)
        np.put_along_axis(in_top, best, True, axis=1)
        chosen &= in_top
    if ensure_one:
        empty = ~chosen.any(axis=1)
        chosen[empty, scores[empty].argmax(axis=1)] = True
    return chosen


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Scores in [0, 1] from logits, in float64 so that close scores still sort apart."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def boosted_probabilities(classifier: Any, features: np.ndarray) -> np.ndarray:
    """P(positive) from a fitted gradient-boosted classifier, computed on one OpenMP thread.

    A request scores a few dozen candidate rows, where OpenMP's thread start-up and barriers
    cost more than they save; and when another process holds the other core (the second
    gunicorn worker, a training), spinning OpenMP threads made one question many times
    slower."""
    with _openmp().limit(limits=1):
        return classifier.predict_proba(features)[:, 1]


@functools.cache
def _openmp() -> Any:
    # Made once, after scikit-learn has loaded its OpenMP runtime: scanning the loaded
    # libraries costs far more than a limit on the cached controller.
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="openmp")


@dataclass(frozen=True)
class ServingOptions:
    """Settings a deployment gives every model it loads (the site's app config)."""

    threads: int | None = None  # per-model inference threads; None = the runtime's default
    # Models that learn after loading (``Predictor.grows_labels``) are held once per scope, not
    # once per process: each site (app) learns only from its own database's reviews.
    scope: str | None = None


@dataclass
class TrainOptions:
    """What ``python -m ml train`` hands every model kind, besides the data set."""

    output: Path
    seed: int = 0
    progress: bool = False
    command: str = ""  # the command line that rebuilds the artifact, recorded in its metadata
    params: dict[str, Any] = field(default_factory=dict)  # the kind's own options, by name


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must be between 0 and 1")


class Predictor(ABC):
    """``predict(texts, top_k, threshold) -> [[(tag, score), ...], ...]``, best tag first.

    ``threshold=None`` applies the thresholds tuned on the validation split (per tag where
    that helped); a number applies that one global threshold instead.
    """

    name: ClassVar[str] = "model"
    # What ``python -m ml train`` hands ``train``: "dataset" (one file, its own split) or
    # "corpus" (every bundled source with its labelled tag set, ``ml.data.sources``).
    training_data: ClassVar[str] = "dataset"
    # Fitted (scikit-learn's habit): the tags, column by column, and each one's threshold, set
    # by training or loading; read through ``labels`` and ``thresholds``.
    labels_: list[str]
    thresholds_: np.ndarray
    metadata: dict[str, Any] = {}  # read-only default; instances assign their own
    # True for models that learn while serving: their labels only ever append (read column j
    # of a score matrix as labels[j], and expect more labels than columns).
    grows_labels: ClassVar[bool] = False

    @property
    def labels(self) -> list[str]:
        return self.labels_

    @labels.setter
    def labels(self, value: list[str]) -> None:
        self.labels_ = value

    @property
    def thresholds(self) -> np.ndarray:
        return self.thresholds_

    @thresholds.setter
    def thresholds(self, value: np.ndarray) -> None:
        # Tuning sets them after fitting: a global threshold, or one per tag.
        self.thresholds_ = np.asarray(value, dtype=np.float64)

    @abstractmethod
    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Probability-like scores in [0, 1], shape (len(texts), len(labels))."""

    def predict(
        self,
        texts: Sequence[str],
        top_k: int = DEFAULT_TOP_K,
        threshold: float | None = None,
        ensure_one: bool = True,
    ) -> Suggestions:
        return [[(s.tag, s.score) for s in row] for row in self.suggest(texts, top_k, threshold, ensure_one)]

    def suggest(
        self,
        texts: Sequence[str],
        top_k: int = DEFAULT_TOP_K,
        threshold: float | None = None,
        ensure_one: bool = True,
    ) -> list[list[Suggestion]]:
        """``predict`` that also says, per tag, whether it reached its threshold: the top-1
        fallback of a question with no confident tag is a guess, and is shown as one."""
        check_threshold(threshold)
        texts = list(texts)
        if not texts:
            return []
        scores = self.predict_scores(texts)
        cut = np.asarray(self.thresholds if threshold is None else threshold)
        if cut.ndim:  # labels may have grown since the scores were made: theirs come first
            cut = cut[: scores.shape[1]]
        cut = np.broadcast_to(cut, scores.shape[1:])
        chosen = decide(scores, cut, top_k=top_k, ensure_one=ensure_one)
        results = []
        for row_scores, row_chosen in zip(scores, chosen, strict=True):
            idx = np.flatnonzero(row_chosen)
            idx = idx[np.argsort(-row_scores[idx], kind="stable")]
            results.append(
                [Suggestion(self.labels[i], round(float(row_scores[i]), 4), bool(row_scores[i] >= cut[i])) for i in idx]
            )
        return results

    def reasons(self, text: str, tags: Sequence[str]) -> dict[str, list[Reason]]:
        """For each of ``tags`` this model can explain, the evidence that weighed most for it
        in ``text``, strongest first. A model that cannot say why (a tree, a transformer)
        returns nothing: no reason is better than an invented one."""
        return {}

    @property
    def version(self) -> str:
        return str(self.metadata.get("model_version", "unknown"))

    # -- artifacts and training: one interface for every model kind ----------------------

    @classmethod
    def load(cls, folder: Path, options: ServingOptions | None = None) -> Predictor:
        """The model saved in ``folder``; ``ArtifactError`` when it is missing or broken."""
        raise ArtifactError(f"the {cls.name} model has no artifact to load from {folder.name}")

    @classmethod  # noqa: B027  (an optional hook: most kinds add no options)
    def add_train_arguments(cls, group: argparse._ArgumentGroup) -> None:
        """This kind's own options of ``python -m ml train`` (none by default)."""

    @classmethod
    def train(cls, dataset: Any, options: TrainOptions) -> dict[str, Any]:
        """Fit on the train split, tune on validation, score once on test, save the artifact
        in ``options.output``; return its metadata (with ``metrics.test``)."""
        raise UsageError(f"the {cls.name} model cannot be trained with `python -m ml train`")

    @classmethod
    def training_notes(cls, metadata: dict[str, Any]) -> list[str]:
        """Lines the CLI prints after training, besides the metrics every kind reports."""
        return []
