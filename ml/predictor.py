"""The one interface every model implements, so callers never know which model they use."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

# Stack Overflow allows at most five tags on a question.
DEFAULT_TOP_K = 5
MAX_TOP_K = 20

Suggestions = list[list[tuple[str, float]]]


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


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must be between 0 and 1")


class Predictor(ABC):
    """``predict(texts, top_k, threshold) -> [[(tag, score), ...], ...]``, best tag first.

    ``threshold=None`` applies the thresholds tuned on the validation split (per tag where
    that helped); a number applies that one global threshold instead.
    """

    name: str = "model"
    labels: list[str]
    thresholds: np.ndarray
    metadata: dict

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
        check_threshold(threshold)
        texts = list(texts)
        if not texts:
            return []
        scores = self.predict_scores(texts)
        cut = self.thresholds if threshold is None else threshold
        chosen = decide(scores, cut, top_k=top_k, ensure_one=ensure_one)
        results = []
        for row_scores, row_chosen in zip(scores, chosen):
            idx = np.flatnonzero(row_chosen)
            idx = idx[np.argsort(-row_scores[idx], kind="stable")]
            results.append([(self.labels[i], round(float(row_scores[i]), 4)) for i in idx])
        return results

    @property
    def version(self) -> str:
        return self.metadata.get("model_version", "unknown")
