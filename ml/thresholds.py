"""Decision thresholds tuned on the validation split: one global, or per tag.

Per-tag thresholds are shrunk towards the global one in proportion to how few validation
examples a tag has, and the amount of shrinkage is itself chosen by 2-fold
cross-validation inside the validation split, so rare tags do not get thresholds fitted to
two or three examples. The test split is never looked at.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

GRID = np.round(np.arange(0.05, 0.905, 0.01), 2)
# Shrinkage strengths tried: inf means "global threshold only".
SHRINKAGE = (np.inf, 50.0, 20.0, 5.0, 0.0)


def _dense_bool(y) -> np.ndarray:
    return (y.toarray() if sparse.issparse(y) else np.asarray(y)).astype(bool)


def _counts_per_threshold(y: np.ndarray, scores: np.ndarray, grid: np.ndarray):
    """True positives, predicted positives per (threshold, label): shape (len(grid), L)."""
    tp = np.empty((len(grid), y.shape[1]))
    predicted = np.empty_like(tp)
    for i, t in enumerate(grid):
        chosen = scores >= t
        tp[i] = (chosen & y).sum(axis=0)
        predicted[i] = chosen.sum(axis=0)
    return tp, predicted


def _f1(tp, predicted, support):
    denominator = predicted + support
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp, dtype=float), where=denominator > 0)


def fit_thresholds(y, scores, shrinkage: float, grid: np.ndarray = GRID) -> tuple[float, np.ndarray]:
    """(global threshold maximising micro-F1, per-tag thresholds shrunk towards it)."""
    y = _dense_bool(y)
    support = y.sum(axis=0)
    tp, predicted = _counts_per_threshold(y, scores, grid)
    micro = _f1(tp.sum(axis=1), predicted.sum(axis=1), support.sum())
    global_t = float(grid[int(np.argmax(micro))])
    per_tag = np.full(y.shape[1], global_t)
    if np.isfinite(shrinkage):
        best = grid[np.argmax(_f1(tp, predicted, support), axis=0)]
        weight = support / (support + shrinkage) if shrinkage > 0 else (support > 0).astype(float)
        per_tag = weight * best + (1 - weight) * global_t
    return global_t, np.round(per_tag, 3)


def tune_thresholds(y, scores, decide_fn, score_fn, seed: int = 0) -> dict:
    """Pick the shrinkage by 2-fold CV on (y, scores), then refit on all of it.

    ``decide_fn(scores, thresholds) -> bool matrix`` is the serving rule (top-k cap,
    top-1 fallback), so tuning optimises what users will actually see; ``score_fn(y, pred)``
    is the objective to maximise.
    """
    y = _dense_bool(y)
    order = np.random.RandomState(seed).permutation(len(y))
    folds = (order[: len(y) // 2], order[len(y) // 2 :])
    cv_scores = {}
    for shrinkage in SHRINKAGE:
        fold_scores = []
        for fit_idx, held_idx in (folds, folds[::-1]):
            _, per_tag = fit_thresholds(y[fit_idx], scores[fit_idx], shrinkage)
            fold_scores.append(score_fn(y[held_idx], decide_fn(scores[held_idx], per_tag)))
        cv_scores[shrinkage] = float(np.mean(fold_scores))
    chosen = max(cv_scores, key=lambda k: (cv_scores[k], k))  # ties: prefer more shrinkage
    global_t, per_tag = fit_thresholds(y, scores, chosen)
    return {
        "global": global_t,
        "per_tag": per_tag,
        "shrinkage": None if not np.isfinite(chosen) else chosen,
        "cv_objective": {
            ("global_only" if not np.isfinite(k) else f"shrinkage_{k:g}"): round(v, 4) for k, v in cv_scores.items()
        },
    }
