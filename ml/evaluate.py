"""Multi-label evaluation: summary metrics, a per-tag table, and text/JSON output.

Everything takes and returns plain data, so the same functions serve the CLI,
the experiment runner and the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn import metrics as skm

DIGITS = 4
PRECISION_AT = (1, 3, 5)
WORST_TAG_ROWS = 5
# Scores are densified a block of rows at a time so P@k stays cheap on big test sets.
_SCORE_BLOCK_ROWS = 4096

SUMMARY_KEYS = (
    "n_samples",
    "n_labels",
    "unknown_gold_tags",
    "label_cardinality_true",
    "label_cardinality_pred",
    "hamming_loss",
    "exact_match",
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_f1",
    "samples_precision",
    "samples_recall",
    "samples_f1",
    *(f"precision_at_{k}" for k in PRECISION_AT),
)
PER_TAG_COLUMNS = ["tag", "support", "precision", "recall", "f1"]


def _as_indicator(matrix) -> sp.csr_matrix:
    return sp.csr_matrix(matrix, dtype=bool).astype(np.int32)


def _rounded(value) -> float:
    return round(float(value), DIGITS)


def _precision_at(y_true: sp.csr_matrix, scores, k: int) -> float:
    """Mean over samples of (#true labels among the k best scored) / k."""
    n_samples, n_labels = y_true.shape
    top = min(k, n_labels)
    hits = 0
    for start in range(0, n_samples, _SCORE_BLOCK_ROWS):
        stop = min(start + _SCORE_BLOCK_ROWS, n_samples)
        block = scores[start:stop]
        block = block.toarray() if sp.issparse(block) else block
        best = np.argpartition(-block, top - 1, axis=1)[:, :top]
        hits += np.take_along_axis(y_true[start:stop].toarray(), best, axis=1).sum()
    return hits / (k * n_samples)


def evaluate(y_true, y_pred, scores=None, labels=None, unknown_gold_tags: int = 0) -> dict:
    """Score binary predictions (and optionally ranked scores) against gold tags.

    ``y_true``/``y_pred``/``scores`` are n_samples x n_labels (dense or sparse);
    ``labels`` names the columns. Returns JSON-ready plain Python values.
    """
    y_true, y_pred = _as_indicator(y_true), _as_indicator(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    if scores is not None:
        scores = sp.csr_matrix(scores) if sp.issparse(scores) else np.asarray(scores, dtype=float)
    if scores is not None and scores.shape != y_true.shape:
        raise ValueError(f"scores have shape {scores.shape} but y_true has {y_true.shape}")
    n_samples, n_labels = y_true.shape
    if n_samples == 0 or n_labels == 0:
        raise ValueError("nothing to evaluate: no samples or no labels")
    labels = [str(i) for i in range(n_labels)] if labels is None else [str(t) for t in labels]
    if len(labels) != n_labels:
        raise ValueError(f"{len(labels)} label names for {n_labels} label columns")

    metrics: dict = {
        "n_samples": n_samples,
        "n_labels": n_labels,
        "unknown_gold_tags": int(unknown_gold_tags),
        "label_cardinality_true": _rounded(y_true.sum() / n_samples),
        "label_cardinality_pred": _rounded(y_pred.sum() / n_samples),
        "hamming_loss": _rounded(skm.hamming_loss(y_true, y_pred)),
        "exact_match": _rounded(skm.accuracy_score(y_true, y_pred)),
    }
    for average in ("micro", "macro", "weighted", "samples"):
        precision, recall, f1, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        metrics[f"{average}_precision"] = _rounded(precision)
        metrics[f"{average}_recall"] = _rounded(recall)
        metrics[f"{average}_f1"] = _rounded(f1)
    if scores is not None:
        for k in PRECISION_AT:
            metrics[f"precision_at_{k}"] = _rounded(_precision_at(y_true, scores, k))

    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    rows = [
        {"tag": tag, "support": int(s), "precision": _rounded(p), "recall": _rounded(r), "f1": _rounded(f)}
        for tag, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    ]
    metrics["per_tag"] = sorted(rows, key=lambda row: (-row["support"], row["tag"]))
    return metrics


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{DIGITS}f}"
    return str(value)


def format_table(rows: list[dict], columns: list[str]) -> str:
    """Fixed-width text table: numbers right-aligned, text left-aligned, missing cells blank."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column), *(len(row[i]) for row in cells)]) for i, column in enumerate(columns)]
    numeric = [
        all(isinstance(row.get(column), (int, float)) for row in rows if row.get(column) is not None)
        for column in columns
    ]

    def render(values: list[str]) -> str:
        padded = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([render(columns), render(["-" * w for w in widths]), *map(render, cells)])


def format_report(metrics: dict, per_tag_rows: int = 20) -> str:
    """Summary metrics, the most frequent tags, then the worst-scoring of the tags left out."""
    summary = [{"metric": key, "value": metrics[key]} for key in SUMMARY_KEYS if key in metrics]
    parts = [format_table(summary, ["metric", "value"])]
    per_tag = metrics.get("per_tag", [])
    if per_tag:
        shown = per_tag[:per_tag_rows]
        parts.append(f"Tags by support (top {len(shown)} of {len(per_tag)}):\n" + format_table(shown, PER_TAG_COLUMNS))
        unshown = [row for row in per_tag[len(shown) :] if row["support"] > 0]
        worst = sorted(unshown, key=lambda row: (row["f1"], -row["support"], row["tag"]))[:WORST_TAG_ROWS]
        if worst:
            parts.append("Worst of the other tags by F1 (support > 0):\n" + format_table(worst, PER_TAG_COLUMNS))
    return "\n\n".join(parts)


def write_metrics(metrics: dict, path: str | Path) -> Path:
    """Write ``metrics`` as indented, key-sorted JSON, creating parent directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


ALL_TAG_K = (1, 2, 3, 4, 5)


def all_tag_metrics(gold: list[set[str]], chosen: list[list[str]], ranked: list[list[str]]) -> dict:
    """Scores over every real tag: a gold tag the model cannot produce is a miss.

    ``chosen[i]``: the tags the serving rule gives question i (thresholds, top-k, fallback);
    ``ranked[i]``: the model's best tags in order, at least 5 where it has them. Micro P/R/F1
    count tag decisions over all questions; P@k, R@k and F1@k follow the tag-recommendation
    literature: P@k = hits in the top k / k and R@k = hits / gold tags, each averaged over
    questions, F1@k their harmonic mean.
    """
    if len(gold) != len(chosen) or len(gold) != len(ranked):
        raise ValueError("gold, chosen and ranked must have one entry per question")
    if not gold:
        raise ValueError("nothing to evaluate: no questions")
    true_positives = sum(len(g & set(c)) for g, c in zip(gold, chosen, strict=True))
    n_chosen = sum(len(c) for c in chosen)
    n_gold = sum(len(g) for g in gold)
    precision = true_positives / n_chosen if n_chosen else 0.0
    recall = true_positives / n_gold if n_gold else 0.0
    metrics: dict = {
        "n_samples": len(gold),
        "gold_tags": n_gold,
        "micro_precision": _rounded(precision),
        "micro_recall": _rounded(recall),
        "micro_f1": _rounded(_harmonic(precision, recall)),
        "tags_per_question": _rounded(n_chosen / len(gold)),
    }
    for k in ALL_TAG_K:
        hits = [len(g & set(r[:k])) for g, r in zip(gold, ranked, strict=True)]
        p_at = float(np.mean([h / k for h in hits]))
        r_at = float(np.mean([h / len(g) if g else 0.0 for h, g in zip(hits, gold, strict=True)]))
        metrics[f"precision_at_{k}"] = _rounded(p_at)
        metrics[f"recall_at_{k}"] = _rounded(r_at)
        metrics[f"f1_at_{k}"] = _rounded(_harmonic(p_at, r_at))
    return metrics


PTM4TAG_MIN_USES = 50
PTM4TAG_K = (1, 3, 5)


def ptm4tag_metrics(
    gold: list[set[str]], ranked: list[list[str]], counts: dict[str, int], min_uses: int = PTM4TAG_MIN_USES
) -> dict:
    """PTM4Tag's protocol (He et al., ICPC 2022), so figures compare with the research anchor.

    Tags with fewer than ``min_uses`` uses (``counts``: the catalogue's) leave the gold and the
    ranking, as they left that study's label space; questions left without a gold tag are
    skipped. P@k = hits in the top k / k; R@k = hits / min(k, gold tags), so a question with
    one tag can reach R@5 = 1; F1@k is the harmonic mean of the two averages. ``ranked[i]``
    should run past 5 tags: the dropped ones make room for the next.
    """
    if len(gold) != len(ranked):
        raise ValueError("gold and ranked must have one entry per question")
    kept = [
        ({tag for tag in g if counts.get(tag, 0) >= min_uses}, [tag for tag in r if counts.get(tag, 0) >= min_uses])
        for g, r in zip(gold, ranked, strict=True)
    ]
    kept = [(g, r) for g, r in kept if g]
    if not kept:
        raise ValueError(f"nothing to evaluate: no question keeps a tag with {min_uses} or more uses")
    metrics: dict = {"n_samples": len(kept), "gold_tags": sum(len(g) for g, _ in kept), "min_uses": min_uses}
    for k in PTM4TAG_K:
        hits = [len(g & set(r[:k])) for g, r in kept]
        p_at = float(np.mean([h / k for h in hits]))
        r_at = float(np.mean([h / min(k, len(g)) for h, (g, _) in zip(hits, kept, strict=True)]))
        metrics[f"precision_at_{k}"] = _rounded(p_at)
        metrics[f"recall_at_{k}"] = _rounded(r_at)
        metrics[f"f1_at_{k}"] = _rounded(_harmonic(p_at, r_at))
    return metrics


def _harmonic(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b else 0.0


ALL_TAG_COLUMNS = ["slice", "n_samples", "micro_precision", "micro_recall", "micro_f1", "precision_at_1", "recall_at_5"]


def format_all_tag_report(metrics: dict) -> str:
    """The all-tag table: one row per slice of the held-out questions (all, titles, bodies)."""
    rows = [
        {"slice": name, **values}
        for name, values in metrics.items()
        if isinstance(values, dict) and "micro_f1" in values
    ]
    text = "Scored over every real tag (gold tags outside the vocabulary count as misses):\n"
    text += format_table(rows, ALL_TAG_COLUMNS)
    if "gold_in_vocabulary" in metrics:
        text += f"\nshare of gold tags in the model's vocabulary: {metrics['gold_in_vocabulary']:.3f}"
    protocol = metrics.get("ptm4tag")
    if protocol:
        figures = ", ".join(
            f"P@{k} {protocol[f'precision_at_{k}']:.3f} R@{k} {protocol[f'recall_at_{k}']:.3f} "
            f"F1@{k} {protocol[f'f1_at_{k}']:.3f}"
            for k in PTM4TAG_K
        )
        text += (
            f"\nPTM4Tag's protocol (tags with >= {protocol['min_uses']} uses, "
            f"{protocol['n_samples']} questions): {figures}"
        )
    return text
