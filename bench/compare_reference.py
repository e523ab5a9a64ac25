"""The baseline beside the published recipe, trained and tested on the same split.

The reference is the recipe quoted in data/README.md: TF-IDF (20k features, 1-3 grams) +
one-vs-rest LinearSVC, tags where the decision function is > 0. It has nothing to tune,
so it is trained on train + validation (all non-test questions); ours trains on train and
tunes its thresholds on validation. Both are scored once on the same test questions.

    .venv/bin/python -m bench.compare_reference [--data data/so_titles_100tags.csv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from joblib import parallel_backend
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import LinearSVC

from bench.harness import stamp
from ml.backends.baseline import TfidfBaseline
from ml.evaluate import evaluate, format_table
from ml.training.from_file import DEFAULT_DATA, fit_and_evaluate, load_dataset

COLUMNS = [
    "micro_f1",
    "macro_f1",
    "weighted_f1",
    "micro_precision",
    "micro_recall",
    "hamming_loss",
    "exact_match",
    "precision_at_1",
]


def reference_metrics(dataset) -> tuple[dict, float]:
    train_idx = np.concatenate([dataset.split.train, dataset.split.validation])
    texts = dataset.texts()
    y_all = sparse.vstack([dataset.targets("train"), dataset.targets("validation")])
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(max_features=20_000, ngram_range=(1, 3))
    features = vectorizer.fit_transform([texts[i] for i in train_idx])
    model = OneVsRestClassifier(LinearSVC())
    with parallel_backend("threading", n_jobs=2):
        model.fit(features, y_all.toarray())
    seconds = time.perf_counter() - started
    scores = model.decision_function(vectorizer.transform(dataset.texts("test")))
    return evaluate(dataset.targets("test"), scores > 0, scores=scores, labels=dataset.labels), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    print(stamp(), flush=True)
    dataset = load_dataset(args.data)
    print(
        f"{args.data}: {len(dataset.questions)} questions, {len(dataset.labels)} tags, "
        f"split {dataset.describe()['split']}"
    )
    reference, reference_seconds = reference_metrics(dataset)
    _, ours = fit_and_evaluate(TfidfBaseline(), dataset)
    rows = [
        {
            "model": "reference: tfidf 20k 1-3g + LinearSVC",
            **{c: reference[c] for c in COLUMNS},
            "train_s": round(reference_seconds, 1),
        },
        {
            "model": "tagsmith baseline",
            **{c: ours["metrics"]["test"][c] for c in COLUMNS},
            "train_s": ours["train_seconds"],
        },
    ]
    print(format_table(rows, ["model", *COLUMNS, "train_s"]))


if __name__ == "__main__":
    main()
