"""Issue 26's cross-fitted stacking and tag co-occurrence, tried on the ensemble's combiner
before either is built. Everything is measured on the validation part of the open questions,
out of fold, never on test.

1. How much the combiner gains from more questions to learn from: out-of-fold scores with
   the combiner fitted on 25% (half of two folds), 50% (two folds), 80% (five folds) and 90%
   (ten folds) of the validation questions. Cross-fitting over the train part would give it
   about eight times more; worth building only if the curve still rises.
2. Tag co-occurrence as evidence (``pandas`` makes ``python`` likely): for each candidate,
   P(tag | other candidate) from the training questions' tag sets, weighted by the other
   candidate's out-of-fold probability (its best, sum, and the reverse direction), fed to a
   second combiner beside the usual features.
3. The combiner's own capacity: scikit-learn's defaults (what it was built with before),
   slower learning with more trees, larger leaves, L2 regularisation, beside the settings it
   is built with now (``new_combiner``: 300 trees of 15 leaves at learning rate 0.05).

    python -m bench.combiner_probe [--seeds 0,1] [--parts 1,2,3]
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from bench.harness import stamp
from ml.backends.ensemble import new_combiner, out_of_fold_probabilities
from ml.data.sources import load_corpus
from ml.evaluate import all_tag_metrics, format_table
from ml.registry import load_predictor
from ml.training.open_corpus import chosen_and_ranked, gold_sets, texts, tune_threshold

# A candidate's co-occurrence is read from the question's strongest others only.
STRONGEST = 8
# Part 3: HistGradientBoostingClassifier settings tried beside new_combiner's.
CAPACITIES = (
    {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 31},
    {"max_iter": 400, "learning_rate": 0.05},
    {"max_iter": 200, "learning_rate": 0.1, "min_samples_leaf": 100},
    {"max_iter": 200, "learning_rate": 0.1, "l2_regularization": 1.0},
    {"max_iter": 600, "learning_rate": 0.03, "max_leaf_nodes": 63, "min_samples_leaf": 50},
)


def folds_probabilities(
    features: np.ndarray,
    hits: np.ndarray,
    owner: np.ndarray,
    n_rows: int,
    k: int,
    share: float,
    seed: int,
    make: Callable[[int], Any] = new_combiner,
) -> np.ndarray:
    """Out-of-fold probabilities over ``k`` folds, each combiner (``make(seed)``) fitted on
    ``share`` of the rest."""
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, k, n_rows)[owner]
    kept = (rng.random(n_rows) < share)[owner]
    probabilities = np.zeros(len(hits))
    for part in range(k):
        fitted = make(seed).fit(features[(fold != part) & kept], hits[(fold != part) & kept])
        probabilities[fold == part] = fitted.predict_proba(features[fold == part])[:, 1]
    return probabilities


def co_occurrence(tags_per_row: list[list[str]], probabilities: np.ndarray, train_gold: list[set[str]]) -> np.ndarray:
    """Per candidate: the best and summed P(tag | other) * p(other), and the best P(other | tag) * p(other)."""
    single: Counter[str] = Counter()
    pair: Counter[tuple[str, str]] = Counter()
    for tags in train_gold:
        single.update(tags)
        pair.update((a, b) for a in tags for b in tags if a != b)
    out = np.zeros((len(probabilities), 3))
    start = 0
    for tags in tags_per_row:
        p = probabilities[start : start + len(tags)]
        strongest = [(tags[i], p[i]) for i in np.argsort(-p)[:STRONGEST]]
        for i, tag in enumerate(tags):
            given = [q * pair[tag, other] / (single[other] + 1) for other, q in strongest if other != tag]
            implies = [q * pair[other, tag] / (single[tag] + 1) for other, q in strongest if other != tag]
            out[start + i] = [max(given, default=0.0), sum(given), max(implies, default=0.0)]
        start += len(tags)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--parts", default="1,2,3", help="which of the three probes to run")
    args = parser.parse_args()
    parts = {int(part) for part in args.parts.split(",")}
    print(stamp(), flush=True)
    corpus = load_corpus()
    validation = corpus.complete("validation")
    gold = gold_sets(corpus, validation)
    ensemble = load_predictor("ensemble", args.models_dir)
    tags_per_row, features = ensemble.candidates(texts(corpus, validation))
    owner = np.repeat(np.arange(len(tags_per_row)), [len(tags) for tags in tags_per_row])
    flat = [tag for tags in tags_per_row for tag in tags]
    hits = np.array([tag in gold[row] for tag, row in zip(flat, owner.tolist(), strict=True)], dtype=np.int64)
    train_gold = gold_sets(corpus, corpus.complete("train"))

    def scored(label: str, probabilities: np.ndarray) -> dict:
        top = ensemble.ranked_candidates(tags_per_row, probabilities)
        threshold, _ = tune_threshold(top, ensemble.labels, gold)
        return {"combiner": label, **all_tag_metrics(gold, *chosen_and_ranked(top, ensemble.labels, threshold))}

    table = []
    for seed in [int(seed) for seed in args.seeds.split(",")]:
        start = len(table)
        if 1 in parts:
            for k, share, label in ((2, 0.5, "25%"), (2, 1.0, "50% (as built)"), (5, 1.0, "80%"), (10, 1.0, "90%")):
                probabilities = folds_probabilities(features, hits, owner, len(tags_per_row), k, share, seed)
                table.append(scored(f"fitted on {label} of validation, seed {seed}", probabilities))
        first = out_of_fold_probabilities(features, hits, owner, len(tags_per_row), seed)
        if 2 in parts:
            extra = co_occurrence(tags_per_row, first, train_gold)
            second = out_of_fold_probabilities(np.hstack([features, extra]), hits, owner, len(tags_per_row), seed + 10)
            table.append(scored(f"+ tag co-occurrence, seed {seed}", second))
        if 3 in parts:
            table.append(scored(f"as built, seed {seed}", first))
            for settings in CAPACITIES:

                def make(seed: int, settings: dict = settings) -> Any:
                    return HistGradientBoostingClassifier(random_state=seed, **settings)

                probabilities = folds_probabilities(features, hits, owner, len(tags_per_row), 2, 1.0, seed, make)
                label = ", ".join(f"{key} {value}" for key, value in settings.items())
                table.append(scored(f"{label}, seed {seed}", probabilities))
        for row in table[start:]:  # progress: a seed's rows as soon as they are scored
            print(row["combiner"], row["micro_f1"], flush=True)
    print(f"validation part of the open questions ({len(validation)}), out of fold")
    print(format_table(table, ["combiner", "micro_f1", "precision_at_1", "recall_at_5"]))


if __name__ == "__main__":
    main()
