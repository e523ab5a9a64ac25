"""Every model under PTM4Tag's protocol, beside the anchor's published figures.

PTM4Tag (He et al., ICPC 2022) fine-tuned CodeBERT on about 10 million Stack Overflow posts and
scored it after dropping every tag with fewer than 50 uses and skipping questions left without
a tag, with R@k = hits / min(k, gold tags). ``ml.evaluate.ptm4tag_metrics`` applies the same
protocol (uses from the tag catalogue's counts) to the held-out part of the open questions:

    python -m bench.ptm4tag [--part validation] [--models ensemble,lexical]

Choose on ``--part validation``; report ``test`` once. The all-tag micro-F1 and P@1 (every
real tag counted) are printed beside it, since the protocol hides the long tail.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.harness import stamp
from ml.data.catalogue import load_catalogue
from ml.data.sources import load_corpus
from ml.errors import ModelUnavailable
from ml.evaluate import PTM4TAG_K, all_tag_metrics, format_table, ptm4tag_metrics
from ml.registry import load_predictor, model_names
from ml.training.open_corpus import chosen_and_ranked, gold_sets, ranked_tags, texts, top_scores

# Published figures (PTM4Tag, ICPC 2022, its best model); the rest of its table was not reported.
ANCHOR = {"model": "PTM4Tag (published)", "P@1": 0.80, "P@5": 0.38, "R@5": 0.70, "F1@5": 0.47}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(model_names()), help="comma-separated model names")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--part", default="test", choices=("validation", "test"))
    parser.add_argument("--min-uses", type=int, default=50, help="drop tags with fewer uses (catalogue counts)")
    args = parser.parse_args()
    print(stamp(), flush=True)
    corpus = load_corpus()
    rows = corpus.complete(args.part)
    inputs = texts(corpus, rows)
    gold = gold_sets(corpus, rows)
    counts = load_catalogue().counts
    table = []
    for name in args.models.split(","):
        try:
            model = load_predictor(name, args.models_dir)
        except ModelUnavailable as error:
            print(f"{name}: unavailable ({error})")
            continue
        top = top_scores(model.predict_scores, inputs)
        chosen, ranked = chosen_and_ranked(top, model.labels, model.thresholds)
        protocol = ptm4tag_metrics(gold, ranked_tags(top, model.labels), counts, args.min_uses)
        every_tag = all_tag_metrics(gold, chosen, ranked)
        row = {"model": name, "questions": protocol["n_samples"]}
        for k in PTM4TAG_K:
            row |= {f"P@{k}": protocol[f"precision_at_{k}"], f"R@{k}": protocol[f"recall_at_{k}"]}
            row[f"F1@{k}"] = protocol[f"f1_at_{k}"]
        row |= {"all-tag micro-F1": every_tag["micro_f1"], "all-tag P@1": every_tag["precision_at_1"]}
        table.append(row)
        print(row, flush=True)
    table.append(ANCHOR)
    print(
        f"{args.part} part of the open questions ({len(rows)}), PTM4Tag's protocol: tags with fewer than "
        f"{args.min_uses} uses dropped, questions left without a tag skipped, R@k = hits / min(k, gold tags)"
    )
    columns = ["model", "questions"] + [f"{m}@{k}" for k in PTM4TAG_K for m in ("P", "R", "F1")]
    print(format_table(table, columns + ["all-tag micro-F1", "all-tag P@1"]))


if __name__ == "__main__":
    main()
