"""Choosing the memory's settings on validation questions (``python -m ml train``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ml.backends.memory.voting import Voting

# Chosen on the open corpus (``python -m ml train --model memory``): k=80, weights
# similarity^1, smoothing 0.5, min_votes 20. Over the k, power and smoothing grids the score
# hardly moves; min_votes gains more.
K_GRID = (20, 40, 80)
POWER_GRID = (1.0, 1.5, 2.0)
SMOOTHING_GRID = (0.0, 0.5)
# Then min_votes (1,000,000 = off: every tag's votes compared with all k neighbours'). 20
# raised validation micro-F1: a tag remembered on 3 questions can have only 3 voters, so its
# score is no longer diluted by the other 77 neighbours.
MIN_VOTES_GRID = (1_000_000, 40, 20, 10, 5)
# Thresholds tried per setting while tuning (the final threshold is tuned on the full grid).
COARSE_THRESHOLDS = np.round(np.arange(0.04, 0.41, 0.02), 2)


class ValidationTuning(Voting):
    def tune(self, texts: Sequence[str], gold: Sequence[set[str]]) -> list[dict[str, Any]]:
        """Choose k, power and smoothing, then ``min_votes``, for the best all-tag micro-F1 on
        these (validation) questions, each setting with its own best global threshold; returns
        every setting tried."""
        ks = (self.k,) if self.k else K_GRID
        found = self.neighbours(texts, k=max(ks))
        tried: list[dict[str, Any]] = []
        for k in ks:
            for power in POWER_GRID:
                for smoothing in SMOOTHING_GRID:
                    self.power, self.smoothing = power, smoothing
                    tried.append(self._tried(found, k, gold))
        best = max(tried, key=lambda row: row["micro_f1"])
        self.k, self.power, self.smoothing = int(best["k"]), float(best["power"]), float(best["smoothing"])
        for min_votes in MIN_VOTES_GRID:
            self.min_votes = min_votes
            tried.append(self._tried(found, self.k, gold))
        self.min_votes = int(max(tried, key=lambda row: row["micro_f1"])["min_votes"])
        return tried

    def _tried(self, found: list[tuple[np.ndarray, np.ndarray]], k: int, gold: Sequence[set[str]]) -> dict[str, Any]:
        from ml.evaluate import all_tag_metrics
        from ml.training.open_corpus import chosen_and_ranked

        top = self._top(found, k)
        f1, threshold = max(
            (all_tag_metrics(list(gold), *chosen_and_ranked(top, self.labels, float(t)))["micro_f1"], float(t))
            for t in COARSE_THRESHOLDS
        )
        setting = {name: getattr(self, name) for name in ("power", "smoothing", "min_votes")}
        return {"k": k, **setting, "threshold": threshold, "micro_f1": f1}

    def _top(self, found: list[tuple[np.ndarray, np.ndarray]], k: int, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
        columns = np.zeros((len(found), n), dtype=np.int64)
        values = np.zeros((len(found), n))
        for r, (rows, similarities) in enumerate(found):
            labels, scores = self.votes(rows, similarities, k)
            order = np.lexsort((labels, -scores))[:n]
            columns[r, : len(order)], values[r, : len(order)] = labels[order], scores[order]
        return columns, values
