"""The long tail: how often a model finds the gold tags that the question's title names.

A gold tag is *named* when the full catalogue's term index (every tag, its synonyms, topic
aliases and separator-free spellings) finds it in the title; it is *rare* with fewer than
``--rare`` training questions (every source counted). Beside these recalls, the all-tag
micro-F1 and P@1 over every real tag, with each model's own serving rule. Models are read
from one or more model folders and printed side by side; code that changed the artifacts'
format runs in its own checkout and saves its rows, which the other run prints beside its own:

    (cd /tmp/before && .venv/bin/python -m bench.named_tags --label before --save /tmp/before.json)
    .venv/bin/python -m bench.named_tags --label after --beside /tmp/before.json [--part validation]

Choose on ``--part validation``; report ``test`` once. ``--named-floors 0.22,0.18,0.15`` adds a
row per floor: the same model with every tag the title names let through at that score, to
show what named recall costs in all-tag micro-F1 and P@1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.harness import stamp
from ml.backends.lexical import TermIndex, find_candidates
from ml.data.catalogue import load_catalogue
from ml.data.sources import load_corpus
from ml.evaluate import all_tag_metrics, format_table
from ml.registry import load_predictor
from ml.training.open_corpus import chosen_and_ranked, gold_sets, texts, top_scores


def named_in_title(index: TermIndex, text: str) -> set[str]:
    title = text.partition("\n")[0]
    return {tag for tag, found in find_candidates(index, title).items() if found.title_count}


def recall(gold: list[set[str]], chosen: list[list[str]], keep: list[set[str]]) -> tuple[float, int]:
    """Share of the gold tags in ``keep`` (per question) that were chosen, and their number."""
    wanted = [g & k for g, k in zip(gold, keep, strict=True)]
    total = sum(len(w) for w in wanted)
    hits = sum(len(w & set(c)) for w, c in zip(wanted, chosen, strict=True))
    return (hits / total if total else 0.0), total


def named_floor(top: tuple[np.ndarray, np.ndarray], model, named: list[set[str]], floor: float) -> np.ndarray:
    """Each question's thresholds by place, with the tags its title names lowered to ``floor``."""
    columns, _ = top
    base = model.thresholds
    cut = base[columns] if isinstance(base, np.ndarray) else np.full(columns.shape, float(base))
    for q, row in enumerate(columns):
        for place, column in enumerate(row):
            if model.labels[column] in named[q]:
                cut[q, place] = min(cut[q, place], floor)
    return cut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="ensemble", help="comma-separated model names")
    parser.add_argument("--folders", default="models", help="model folders, comma-separated")
    parser.add_argument("--label", default="", help="what these models are, in the table (default: the folder)")
    parser.add_argument("--save", help="write this run's rows to this JSON file")
    parser.add_argument("--beside", help="print the rows another run saved before this run's")
    parser.add_argument("--part", default="test", choices=("validation", "test"))
    parser.add_argument("--rare", type=int, default=20, help="rare: fewer training questions than this")
    parser.add_argument("--named-floors", default="", help="comma-separated scores: named tags pass at each")
    args = parser.parse_args()
    print(stamp(), flush=True)
    corpus = load_corpus()
    rows = corpus.complete(args.part)
    inputs = texts(corpus, rows)
    gold = gold_sets(corpus, rows)
    counts = corpus.tag_counts("train")
    index = TermIndex(load_catalogue(), 0)
    named = [named_in_title(index, text) for text in inputs]
    rare = [{tag for tag in tags if counts.get(tag, 0) < args.rare} for tags in named]
    table = json.loads(Path(args.beside).read_text()) if args.beside else []
    mine = []
    for folder in args.folders.split(","):
        label = args.label or folder
        for name in args.models.split(","):
            model = load_predictor(name, Path(folder))
            top = top_scores(model.predict_scores, inputs)
            floors = [None] + [float(floor) for floor in args.named_floors.split(",") if floor]
            for floor in floors:
                thresholds = model.thresholds if floor is None else named_floor(top, model, named, floor)
                chosen, ranked = chosen_and_ranked(top, model.labels, thresholds)
                metrics = all_tag_metrics(gold, chosen, ranked)
                named_recall, n_named = recall(gold, chosen, named)
                rare_recall, n_rare = recall(gold, chosen, rare)
                mine.append(
                    {
                        "models": label,
                        "model": name if floor is None else f"{name}, named tags from {floor}",
                        f"named recall ({n_named})": round(named_recall, 4),
                        f"rare named recall ({n_rare})": round(rare_recall, 4),
                        "micro-F1": metrics["micro_f1"],
                        "P@1": metrics["precision_at_1"],
                        "R@5": metrics["recall_at_5"],
                    }
                )
                print(mine[-1], flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(mine, indent=1))
    table += mine
    print(
        f"{args.part} part of the open questions: {len(rows)} questions, every real tag counted; "
        f"rare: < {args.rare} training questions"
    )
    print(format_table(table, list(table[0])))


if __name__ == "__main__":
    main()
