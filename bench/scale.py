"""Training time and peak memory of the baseline at StackSample scale and beyond.

Grows the bundled corpus to --questions rows with light perturbation (word dropout,
adjacent swaps) and spreads its 100 tags into --tags tags: copy c of a question gets the
tag variant "tag-v{c % variants}" and a marker word naming the variant in its title, so
the extra tags are learnable rather than noise. Prints rows, tags, features, fit time and
the process's peak resident memory (threads included: training uses threads, not processes).

    .venv/bin/python -m bench.scale --questions 1000000 --tags 1000
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import time

from bench.harness import stamp
from ml.backends.baseline import SOLVERS, TfidfBaseline, resolve_auto
from ml.cli_types import ngram_range
from ml.data.split import label_matrix
from ml.training.from_file import DEFAULT_DATA


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux reports KiB


def synthetic(n_questions: int, n_tags: int, seed: int = 0):
    with open(DEFAULT_DATA, encoding="utf-8") as handle:
        base = [(row["title"], row["tags"].split()) for row in csv.DictReader(handle)]
    n_base_tags = len({tag for _, tags in base for tag in tags})
    variants = max(1, -(-n_tags // n_base_tags))
    rng = random.Random(seed)
    texts, tag_sets = [], []
    for i in range(n_questions):
        title, tags = base[i % len(base)]
        variant = (i // len(base)) % variants
        words = [w for w in title.split() if rng.random() > 0.1] or title.split()
        if len(words) > 2 and rng.random() < 0.3:
            j = rng.randrange(len(words) - 1)
            words[j], words[j + 1] = words[j + 1], words[j]
        if variant:
            words.insert(rng.randrange(len(words) + 1), f"variant{variant}")
        texts.append(" ".join(words))
        tag_sets.append(tuple(tag if not variant else f"{tag}-v{variant}" for tag in tags))
    return texts, tag_sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--char-ngrams", type=ngram_range, default="auto", help="as for `python -m ml train`")
    parser.add_argument("--solver", default="auto", choices=("auto", *SOLVERS), help="as for `python -m ml train`")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    print(stamp(), flush=True)

    started = time.perf_counter()
    texts, tag_sets = synthetic(args.questions, args.tags)
    y, labels = label_matrix(tag_sets)
    del tag_sets
    made = time.perf_counter() - started
    rss_data = peak_rss_gb()
    settings = resolve_auto(args.char_ngrams, args.solver, len(texts))
    model = TfidfBaseline(**settings, n_jobs=args.jobs, progress=True)
    started = time.perf_counter()
    model.fit(texts, y, labels)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model.predict(texts[:10_000])
    predict_ms = (time.perf_counter() - started) * 1000 / 10_000
    print(
        f"questions {len(texts):,}  tags {len(labels):,}  features {model.weights_.shape[0]:,}  "
        f"char n-grams {settings['char_ngrams'] or 'off'}  solver {settings['solver']}  jobs {args.jobs}\n"
        f"data generation {made:.0f} s (peak RSS {rss_data:.2f} GB)\n"
        f"fit {fit_seconds:.0f} s ({fit_seconds / 60:.1f} min)  predict {predict_ms:.3f} ms/question in batches\n"
        f"peak RSS {peak_rss_gb():.2f} GB (weights {model.weights_.nbytes / 1024**3:.2f} GB)"
    )


if __name__ == "__main__":
    main()
