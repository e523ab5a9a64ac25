"""Training and scoring on the open-vocabulary corpus (``ml.data.sources``).

Models here are scored over every real tag: a gold tag outside a model's vocabulary is a
miss, as it is for a user. Thresholds are chosen on the validation questions whose whole
tag set is known, for the same all-tag micro-F1; the test questions are scored once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ml.artifacts import utc_now
from ml.data.catalogue import load_catalogue
from ml.data.sources import Corpus, load_corpus
from ml.data.split import data_hash
from ml.evaluate import all_tag_metrics, ptm4tag_metrics
from ml.predictor import DEFAULT_TOP_K
from ml.text import question_text

ScoreFn = Callable[[Sequence[str]], np.ndarray]
Rows = Sequence[int] | np.ndarray  # indices into the corpus's questions
THRESHOLD_GRID = np.round(np.arange(0.02, 0.81, 0.01), 2)
BATCH = 64
TOP_N = 20


def frequent_tags(counts: Mapping[str, int], min_count: int) -> list[str]:
    """Tags counted at least ``min_count`` times, most counted first (ties by name): the
    vocabulary of a model that learns every tag with enough training questions."""
    return sorted((t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))


def texts(corpus: Corpus, rows: Rows) -> list[str]:
    return [question_text(corpus.questions[i].title, corpus.questions[i].body) for i in rows]


def gold_sets(corpus: Corpus, rows: Rows) -> list[set[str]]:
    return [set(corpus.questions[i].tags) for i in rows]


def top_scores(score: ScoreFn, inputs: Sequence[str], n_best: int = TOP_N) -> tuple[np.ndarray, np.ndarray]:
    """(columns, scores) of each question's ``n_best`` best tags, best first, computed a
    batch at a time: a dense matrix over 20k catalogue tags would need gigabytes."""
    columns, values = [], []
    for start in range(0, len(inputs), BATCH):
        best, best_scores = top_of(score(inputs[start : start + BATCH]), n_best)
        columns.append(best)
        values.append(best_scores)
    if not columns:
        return np.zeros((0, n_best), dtype=np.int64), np.zeros((0, n_best))
    return np.vstack(columns), np.vstack(values)


def top_of(scores: np.ndarray, n_best: int = TOP_N) -> tuple[np.ndarray, np.ndarray]:
    """(columns, scores) of each row's ``n_best`` best tags, best first."""
    k = min(n_best, scores.shape[1])
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    best_scores = np.take_along_axis(scores, best, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    return np.take_along_axis(best, order, axis=1), np.take_along_axis(best_scores, order, axis=1)


def chosen_and_ranked(
    top: tuple[np.ndarray, np.ndarray],
    labels: Sequence[str],
    thresholds: np.ndarray | float,
    top_k: int = DEFAULT_TOP_K,
    ensure_one: bool = True,
) -> tuple[list[list[str]], list[list[str]]]:
    """The serving rule (``ml.predictor.decide``) applied to each question's best tags.
    ``thresholds``: one for all, one per tag, or one per question and place (``top``'s shape)."""
    columns, values = top
    if isinstance(thresholds, np.ndarray):
        cut = thresholds if thresholds.shape == columns.shape and thresholds.ndim == 2 else thresholds[columns]
    else:
        cut = thresholds
    passed = (values >= cut) & (values > 0)
    passed[:, top_k:] = False
    if ensure_one and columns.shape[1]:
        passed[~passed.any(axis=1), 0] = True
    ranked = [[labels[j] for j in row[:5]] for row in columns]
    picked = [[labels[j] for j in row[keep]] for row, keep in zip(columns, passed, strict=True)]
    return picked, ranked


def ranked_tags(top: tuple[np.ndarray, np.ndarray], labels: Sequence[str]) -> list[list[str]]:
    """Each question's best tags in order, as many as ``top`` holds."""
    columns, values = top
    return [
        [labels[j] for j, v in zip(row, scores, strict=True) if v > 0]
        for row, scores in zip(columns, values, strict=True)
    ]


def tune_threshold(
    top: tuple[np.ndarray, np.ndarray], labels: Sequence[str], gold: list[set[str]]
) -> tuple[float, float]:
    """The global threshold with the best all-tag micro-F1 under the serving rule."""
    best = (-1.0, 0.5)
    for threshold in THRESHOLD_GRID:
        chosen, ranked = chosen_and_ranked(top, labels, float(threshold))
        f1 = all_tag_metrics(gold, chosen, ranked)["micro_f1"]
        if f1 > best[0]:
            best = (f1, float(threshold))
    return best[1], best[0]


def slices(corpus: Corpus, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The held-out questions, whole and by kind: titles only, and with a body."""
    has_body = np.array([bool(corpus.questions[i].body) for i in rows], dtype=bool)
    return {"all": rows, "titles": rows[~has_body], "bodies": rows[has_body]}


def score_part(
    top: tuple[np.ndarray, np.ndarray],
    labels: Sequence[str],
    thresholds: np.ndarray | float,
    corpus: Corpus,
    rows: np.ndarray,
) -> dict[str, Any]:
    """All-tag metrics of these best tags (one row per question in ``rows``), whole and by slice."""
    position = {int(i): k for k, i in enumerate(rows)}
    chosen, ranked = chosen_and_ranked(top, labels, thresholds)
    gold = gold_sets(corpus, rows)
    result: dict[str, Any] = {}
    for name, part in slices(corpus, rows).items():
        if len(part):
            keep = [position[int(i)] for i in part]
            result[name] = all_tag_metrics(
                [gold[k] for k in keep], [chosen[k] for k in keep], [ranked[k] for k in keep]
            )
    vocabulary = set(labels)
    coverage = sum(len(g & vocabulary) for g in gold) / max(1, sum(len(g) for g in gold))
    result["gold_in_vocabulary"] = round(coverage, 4)
    # Without a question that keeps a tag that common, the protocol has nothing to say.
    with contextlib.suppress(ValueError):
        result["ptm4tag"] = ptm4tag_metrics(gold, ranked_tags(top, labels), load_catalogue().counts)
    return result


def hundred_tag_check(score: ScoreFn, labels: Sequence[str], thresholds: np.ndarray | float, corpus: Corpus) -> dict:
    """Micro-F1 over the bundled 100-tag file's test split, counted over its 100 tags only:
    the regression check against the closed-vocabulary models."""
    from ml.evaluate import evaluate

    rows = corpus.indices("test", ["titles100"])
    listed = sorted(corpus.listed.get("titles100", frozenset()))
    if not len(rows) or not listed:
        return {}
    chosen, _ = chosen_and_ranked(top_scores(score, texts(corpus, rows)), labels, thresholds)
    column = {tag: j for j, tag in enumerate(listed)}
    y_true = np.zeros((len(rows), len(listed)), dtype=bool)
    y_pred = np.zeros_like(y_true)
    for r, i in enumerate(rows):
        for tag in corpus.questions[i].tags:
            y_true[r, column[tag]] = True
        for tag in chosen[r]:
            if tag in column:
                y_pred[r, column[tag]] = True
    metrics = evaluate(y_true, y_pred, labels=listed)
    return {key: metrics[key] for key in ("n_samples", "micro_f1", "macro_f1", "micro_precision", "micro_recall")}


def corpus_stamp(model: str, corpus: Corpus) -> dict[str, Any]:
    digest = data_hash(corpus.questions)
    created = utc_now()
    return {
        "created": created,
        "model_version": f"{model}-{created[:10]}-{digest[:8]}",
        "corpus": dict(corpus.describe(), data_hash=digest),
    }


def evaluate_model(
    score: ScoreFn, labels: Sequence[str], thresholds: np.ndarray | float, corpus: Corpus, part: str
) -> dict[str, Any]:
    rows = corpus.complete(part)
    return score_part(top_scores(score, texts(corpus, rows)), labels, thresholds, corpus, rows)


def model_corpus(metadata: dict) -> Corpus:
    """The corpus an open-vocabulary model was trained on (its recorded sources, the
    reviewed questions' snapshot among them), checked against its hash."""
    from ml.data.sources import DEFAULT_SOURCES, Source
    from ml.errors import DataError

    recorded = metadata.get("corpus") or {}
    sources = tuple(Source(**source) for source in recorded.get("sources", [])) or DEFAULT_SOURCES
    missing = [source.path for source in sources if not source.resolved().exists()]
    if missing:
        raise DataError(f"the {metadata.get('model', 'model')} model was trained on {missing[0]}, which is gone")
    corpus = load_corpus(sources)
    if recorded.get("data_hash") and data_hash(corpus.questions) != recorded["data_hash"]:
        raise DataError(
            f"the corpus no longer matches the one the {metadata.get('model', 'model')} model was trained on; "
            "retrain the model"
        )
    return corpus


def tune_test_save(
    model: Any,
    corpus: Corpus,
    options: Any,
    fit_seconds: float,
    threshold: float | None = None,
    validation_metrics: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What every open-vocabulary kind does after ``fit``: choose its global threshold on
    the validation questions, score validation, test and the 100-tag check, save the artifact.
    A model that learned on validation itself (the ensemble) brings its threshold and its
    out-of-fold validation metrics instead: scoring it there again would flatter it."""
    validation = corpus.complete("validation")
    if threshold is None or validation_metrics is None:
        top = top_scores(model.predict_scores, texts(corpus, validation))
        if threshold is None:
            threshold, _ = tune_threshold(top, model.labels, gold_sets(corpus, validation))
        validation_metrics = score_part(top, model.labels, threshold, corpus, validation)
    model.thresholds = np.full(len(model.labels), threshold)
    test = corpus.complete("test")
    metadata = {
        **corpus_stamp(model.name, corpus),
        "train_seconds": round(fit_seconds, 2),
        **extra,
        "thresholds": {"global": threshold},
        "metrics": {
            "validation": validation_metrics,
            "test": score_part(
                top_scores(model.predict_scores, texts(corpus, test)), model.labels, threshold, corpus, test
            ),
        },
        "rebuild_command": options.command,
    }
    metadata["metrics"]["hundred_tag_test"] = hundred_tag_check(
        model.predict_scores, model.labels, model.thresholds, corpus
    )
    model.save(options.output, metadata)
    return model.metadata
