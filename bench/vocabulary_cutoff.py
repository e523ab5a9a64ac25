"""Which tags the open-vocabulary tree learns: the minimum number of training questions per
tag, chosen on the validation questions only (all-tag micro-F1 and P@1 at each setting's best
global threshold; the test questions are not touched).

    .venv/bin/python -m bench.vocabulary_cutoff [--min-counts 2,3,5,10,20]
"""

from __future__ import annotations

import argparse
import time

from bench.harness import stamp
from ml.backends.omikuji import OmikujiTagger
from ml.data.sources import load_corpus
from ml.evaluate import format_table
from ml.training.open_corpus import frequent_tags, gold_sets, score_part, texts, top_scores, tune_threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-counts", default="2,3,5,10,20")
    args = parser.parse_args()
    print(stamp(), flush=True)
    corpus = load_corpus()
    train, validation = corpus.complete("train"), corpus.complete("validation")
    counts = corpus.tag_counts("train", scope="all")
    gold = gold_sets(corpus, validation)
    rows = []
    for min_count in (int(x) for x in args.min_counts.split(",")):
        labels = frequent_tags(counts, min_count)
        started = time.perf_counter()
        model = OmikujiTagger(min_count=min_count).fit(
            texts(corpus, train), [corpus.questions[i].tags for i in train], labels
        )
        fit_seconds = time.perf_counter() - started
        top = top_scores(model.predict_scores, texts(corpus, validation))
        threshold, _ = tune_threshold(top, labels, gold)
        metrics = score_part(top, labels, threshold, corpus, validation)
        rows.append(
            {
                "min_count": min_count,
                "tags": len(labels),
                "gold in vocabulary": metrics["gold_in_vocabulary"],
                "threshold": threshold,
                "micro-F1": metrics["all"]["micro_f1"],
                "P@1": metrics["all"]["precision_at_1"],
                "R@5": metrics["all"]["recall_at_5"],
                "fit s": round(fit_seconds, 1),
            }
        )
        print(rows[-1], flush=True)
    print(f"validation part of the open questions: {len(validation)} questions, every real tag counted")
    print(format_table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
