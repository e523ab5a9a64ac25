"""Every model side by side over every real tag, on the held-out open questions.

Quality: all-tag micro P/R/F1, P@1 and R@5 on the test part of the open questions (complete
real tag sets; a gold tag a model cannot produce is a miss), whole, titles only and with
bodies, with each model's own serving rule (its thresholds, at most 5 tags, top-1 fallback).
Speed: one question at a time with a 1,500-character HTML body, cleaning included, p50/p95.
Memory: resident size of this process after loading each model (cumulative, like a worker).

    .venv/bin/python -m bench.open_vocab [--n-latency 300]
"""

from __future__ import annotations

import argparse
import csv
import sys

import numpy as np

from bench.harness import one_at_a_time, resident_mb, stamp
from ml.data.catalogue import load_catalogue
from ml.data.sources import load_corpus
from ml.errors import ModelUnavailable
from ml.evaluate import format_table
from ml.paths import PROJECT_ROOT
from ml.predictor import ServingOptions
from ml.registry import load_predictor, model_names
from ml.training.open_corpus import score_part, texts, top_scores

BODIES = PROJECT_ROOT / "data" / "so_questions_with_bodies_sample.csv"
BODY_CHARS = 1500


def latency(predictor, questions: list[tuple[str, str]]) -> tuple[float, float]:
    times = one_at_a_time(predictor, questions)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-latency", type=int, default=300, help="questions timed one at a time")
    args = parser.parse_args()
    print(stamp(), flush=True)
    corpus = load_corpus()
    rows = corpus.complete("test")
    inputs = texts(corpus, rows)
    with open(BODIES, encoding="utf-8") as handle:
        long_bodies = [
            (r["title"], r["body"][:BODY_CHARS]) for r in csv.DictReader(handle) if len(r["body"]) >= BODY_CHARS
        ]
    timed = long_bodies[: args.n_latency]
    catalogue = load_catalogue()
    table = []
    baseline_mb = resident_mb()
    for name in model_names():
        try:
            # As a gunicorn worker loads it (gunicorn.conf.py): one onnxruntime thread.
            predictor = load_predictor(name, options=ServingOptions(threads=1))
        except ModelUnavailable as error:
            print(f"{name}: not available ({error})", file=sys.stderr)
            continue
        labels = [catalogue.canonical(tag) for tag in predictor.labels]
        metrics = score_part(top_scores(predictor.predict_scores, inputs), labels, predictor.thresholds, corpus, rows)
        p50, p95 = latency(predictor, timed)
        row = {"model": name, "tags": len(predictor.labels), "in_vocab": metrics["gold_in_vocabulary"]}
        for part in ("all", "titles", "bodies"):
            row[f"{part} F1"] = metrics[part]["micro_f1"]
            row[f"{part} P@1"] = metrics[part]["precision_at_1"]
        row["R@5"] = metrics["all"]["recall_at_5"]
        row["p50 ms"], row["p95 ms"] = round(p50, 1), round(p95, 1)
        row["RSS MB"] = round(resident_mb() - baseline_mb)
        table.append(row)
    print(
        f"test part of the open questions: {len(rows)} questions; latency on {len(timed)} with a {BODY_CHARS}-char body"
    )
    print(format_table(table, list(table[0]) if table else []))
    print(f"RSS MB: resident memory growth after loading each model (cumulative); start {baseline_mb:.0f} MB")


if __name__ == "__main__":
    main()
