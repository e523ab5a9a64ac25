"""Pilot runs that chose the transformer's learning rate, on the validation split only.

Each setting fine-tunes MiniLM for one epoch on the first --limit training questions of the
open-vocabulary corpus (every source, partial labels) and reports the validation objective
(all-tag micro-F1 at the best global threshold) -- the same objective the full run uses to
pick its best epoch. The test split is not touched.

    .venv/bin/python -m bench.transformer_sweep --lrs 5e-5,1e-4,2e-4 --limit 10000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.harness import stamp
from ml.backends.transformer.finetune import FineTuneConfig, FineTuner, open_labels
from ml.data.sources import load_corpus
from ml.evaluate import format_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lrs", default="5e-5,1e-4,2e-4")
    parser.add_argument("--max-lengths", default="48")
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--min-count", type=int, default=5)
    args = parser.parse_args()
    print(stamp(), flush=True)
    corpus = load_corpus()
    labels = open_labels(corpus, args.min_count)
    train_questions = min(args.limit, len(corpus.indices("train")))
    rows = []
    for max_length in (int(x) for x in args.max_lengths.split(",")):
        for lr in (float(x) for x in args.lrs.split(",")):
            config = FineTuneConfig(lr=lr, max_length=max_length, epochs=args.epochs, limit=args.limit)
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as checkpoints:
                _, result = FineTuner(config, Path(checkpoints)).fit_corpus(corpus, labels)
            best = max(result["history"], key=lambda h: h["validation_objective"])
            rows.append(
                {
                    "lr": f"{lr:g}",
                    "max_length": max_length,
                    "train_questions": train_questions,
                    "epochs": args.epochs,
                    "validation_objective": best["validation_objective"],
                    "minutes": round((time.perf_counter() - started) / 60, 1),
                }
            )
            print(rows[-1], flush=True)
    print(format_table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
