import numpy as np
import pytest

from ml.predictor import Predictor, decide
from ml.thresholds import fit_thresholds, tune_thresholds


class FixedScores(Predictor):
    name = "fixed"

    def __init__(self, scores):
        self.labels = ["a", "b", "c", "d"]
        self.thresholds = np.array([0.5, 0.5, 0.5, 0.9])
        self.metadata = {"model_version": "fixed-1"}
        self._scores = np.asarray(scores, dtype=float)

    def predict_scores(self, texts):
        return self._scores[: len(texts)]


SCORES = [[0.9, 0.6, 0.1, 0.8], [0.1, 0.2, 0.3, 0.4], [0.7, 0.7, 0.7, 0.95]]


def test_predict_uses_tuned_thresholds_sorted_best_first_with_fallback():
    out = FixedScores(SCORES).predict(["x", "y", "z"])
    assert out[0] == [("a", 0.9), ("b", 0.6)]  # d=0.8 is under its own 0.9 threshold
    assert out[1] == [("d", 0.4)]  # nothing passes: top-1 fallback
    assert [tag for tag, _ in out[2]] == ["d", "a", "b", "c"]


def test_global_threshold_top_k_and_opt_out_of_fallback():
    model = FixedScores(SCORES)
    assert model.predict(["x"], threshold=0.7) == [[("a", 0.9), ("d", 0.8)]]
    assert model.predict(["x", "y", "z"], top_k=1, threshold=0.5) == [[("a", 0.9)], [("d", 0.4)], [("d", 0.95)]]
    assert model.predict(["x", "y"], ensure_one=False, threshold=0.5)[1] == []
    assert model.predict([]) == []


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_threshold_out_of_range(bad):
    with pytest.raises(ValueError):
        FixedScores(SCORES).predict(["x"], threshold=bad)


def test_decide_top_k_exactly_k_even_with_ties():
    chosen = decide(np.full((2, 6), 0.8), 0.5, top_k=3)
    assert chosen.sum(axis=1).tolist() == [3, 3]
    with pytest.raises(ValueError):
        decide(np.zeros((1, 2)), 0.5, top_k=0)


def test_fit_thresholds_finds_the_separating_cut():
    rng = np.random.RandomState(0)
    y = rng.rand(400, 3) < 0.3
    # tag 0 is well separated at 0.3, tag 2 at 0.7
    scores = np.where(y, 0.35, 0.25)
    scores[:, 2] = np.where(y[:, 2], 0.75, 0.65)
    global_t, per_tag = fit_thresholds(y, scores, shrinkage=0.0)
    assert 0.25 < per_tag[0] <= 0.35 and 0.65 < per_tag[2] <= 0.75
    global_only, flat = fit_thresholds(y, scores, shrinkage=np.inf)
    assert np.all(flat == global_only)


def test_tune_prefers_per_tag_when_tags_need_different_cuts():
    rng = np.random.RandomState(1)
    y = rng.rand(600, 4) < 0.3
    offsets = np.array([0.1, 0.3, 0.5, 0.7])
    scores = np.clip(offsets + np.where(y, 0.1, -0.1) + rng.normal(0, 0.01, y.shape), 0, 1)

    def f1(t, p):
        return ((t & p).sum() * 2) / max(t.sum() + p.sum(), 1)

    tuned = tune_thresholds(y, scores, lambda s, th: s >= th, f1)
    assert tuned["shrinkage"] is not None
    assert np.all(np.abs(tuned["per_tag"] - offsets) < 0.12)
