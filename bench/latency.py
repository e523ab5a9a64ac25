"""Prediction latency of the models side by side, as the site calls them.

One question at a time (p50/p95 over --n test-split titles, and over questions with
HTML bodies from data/so_questions_with_bodies_sample.csv), then throughput for batches
of 32, and the process's resident memory with the model loaded. Timings include text
cleaning and tokenization, not just the model. Each model folder is measured in its own
process, in turn, ``--rounds`` times: on a noisy machine compare rounds, not one run.

    .venv/bin/python -m bench.latency [--n 500] [--models ensemble,lexical]
        [--folders /tmp/before/models,models] [--rounds 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.harness import ROOT, one_at_a_time, stamp
from ml.errors import ModelUnavailable
from ml.evaluate import format_table
from ml.paths import PROJECT_ROOT
from ml.registry import load_predictor, model_names
from ml.text import question_text
from ml.training.from_file import load_dataset

BODIES = PROJECT_ROOT / "data" / "so_questions_with_bodies_sample.csv"


def batch_throughput(predictor, questions: list[tuple[str, str]], batch: int = 32) -> float:
    texts = [question_text(title, body) for title, body in questions]
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        predictor.predict(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - started)


def measure(name: str, folder: Path, n: int) -> dict | None:
    dataset = load_dataset()
    titles = [(dataset.questions[i].title, "") for i in dataset.split.test[:n]]
    with open(BODIES, encoding="utf-8") as handle:
        with_bodies = [(row["title"], row["body"]) for row in csv.DictReader(handle)][:n]
    try:
        predictor = load_predictor(name, folder)
    except ModelUnavailable as error:
        print(f"{name}: unavailable ({error})", file=sys.stderr)
        return None
    title_ms = one_at_a_time(predictor, titles)
    body_ms = one_at_a_time(predictor, with_bodies)
    return {
        "title p50 ms": round(float(np.percentile(title_ms, 50)), 2),
        "title p95 ms": round(float(np.percentile(title_ms, 95)), 2),
        "body p50 ms": round(float(np.percentile(body_ms, 50)), 2),
        "body p95 ms": round(float(np.percentile(body_ms, 95)), 2),
        "batch-32 q/s": round(batch_throughput(predictor, titles * 4), 1),
        "peak RSS MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="questions per measurement")
    parser.add_argument("--models", help="comma-separated model names (default: every served model)")
    parser.add_argument("--folders", default="models", help="model folders, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="times each folder is measured, in turn")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child process: one model from one folder, its figures as JSON
        print(json.dumps(measure(args.one[0], Path(args.one[1]), args.n)))
        return
    print(stamp(), flush=True)
    names = args.models.split(",") if args.models else list(model_names())
    rows = []
    for round_number in range(1, args.rounds + 1):
        for name in names:
            for folder in args.folders.split(","):
                child = [sys.executable, "-m", "bench.latency", "--n", str(args.n), "--one", name, folder]
                figures = json.loads(subprocess.run(child, check=True, capture_output=True, text=True, cwd=ROOT).stdout)
                if figures:
                    rows.append({"round": round_number, "models": folder, "model": name, **figures})
                    print(rows[-1], flush=True)
    print(format_table(rows, list(rows[0])) if rows else "no model available")


if __name__ == "__main__":
    main()
