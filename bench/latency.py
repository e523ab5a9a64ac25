"""Prediction latency of both models side by side, as the site calls them.

One question at a time (p50/p95 over --n test-split titles, and over questions with
HTML bodies from data/so_questions_with_bodies_sample.csv), then throughput for batches
of 32. Timings include text cleaning and tokenization, not just the model.

    .venv/bin/python bench/latency.py [--n 500]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ml.errors import ModelUnavailable  # noqa: E402
from ml.evaluate import format_table  # noqa: E402
from ml.paths import PROJECT_ROOT  # noqa: E402
from ml.registry import load_predictor, model_names  # noqa: E402
from ml.text import question_text  # noqa: E402
from ml.train import load_dataset  # noqa: E402

BODIES = PROJECT_ROOT / "data" / "so_questions_with_bodies_sample.csv"


def one_at_a_time(predictor, questions: list[tuple[str, str]]) -> np.ndarray:
    for title, body in questions[:20]:  # warm-up: first calls allocate
        predictor.predict([question_text(title, body)])
    times = []
    for title, body in questions:
        started = time.perf_counter()
        predictor.predict([question_text(title, body)])
        times.append((time.perf_counter() - started) * 1000)
    return np.array(times)


def batch_throughput(predictor, questions: list[tuple[str, str]], batch: int = 32) -> float:
    texts = [question_text(title, body) for title, body in questions]
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        predictor.predict(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="questions per measurement")
    args = parser.parse_args()
    dataset = load_dataset()
    titles = [(dataset.questions[i].title, "") for i in dataset.split.test[: args.n]]
    with open(BODIES, encoding="utf-8") as handle:
        with_bodies = [(row["title"], row["body"]) for row in csv.DictReader(handle)][: args.n]
    rows = []
    for name in model_names():
        try:
            predictor = load_predictor(name)
        except ModelUnavailable as error:
            print(f"{name}: unavailable ({error})")
            continue
        title_ms = one_at_a_time(predictor, titles)
        body_ms = one_at_a_time(predictor, with_bodies)
        rows.append(
            {
                "model": name,
                "title p50 ms": round(float(np.percentile(title_ms, 50)), 2),
                "title p95 ms": round(float(np.percentile(title_ms, 95)), 2),
                "body p50 ms": round(float(np.percentile(body_ms, 50)), 2),
                "body p95 ms": round(float(np.percentile(body_ms, 95)), 2),
                "batch-32 q/s": round(batch_throughput(predictor, titles * 4), 1),
            }
        )
    print(format_table(rows, list(rows[0])) if rows else "no model available")


if __name__ == "__main__":
    main()
