"""Today's tag names: one model's answers scored against gold tags under the names Stack
Overflow uses now (the bundled catalogue with its 2024 renames: ``tsql`` -> ``t-sql``).

A checkout whose catalogue named tags differently (before the 2024 save was bundled) saves
its answers; the checkout under test scores them beside its own, once as they were named and
once renamed through today's catalogue, all on the same gold:

    (cd /tmp/before && PYTHONPATH=. python -m bench.tag_names --save /tmp/before.json)
    python -m bench.tag_names --beside /tmp/before.json [--part validation]

"As named" is what a site with the old names would score on questions tagged today; "renamed"
separates the names from the models. Choose on ``--part validation``; report ``test`` once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.harness import stamp
from ml.data.catalogue import load_catalogue
from ml.data.sources import load_corpus
from ml.evaluate import all_tag_metrics, format_table
from ml.registry import load_predictor
from ml.training.open_corpus import chosen_and_ranked, gold_sets, texts, top_scores

COLUMNS = ["model", "micro_f1", "precision_at_1", "recall_at_5"]


def answers(model_name: str, folder: Path, inputs: list[str]) -> dict[str, list[list[str]]]:
    """The model's chosen tags (its serving rule) and its five best, per question."""
    model = load_predictor(model_name, folder)
    top = top_scores(model.predict_scores, inputs)
    chosen, ranked = chosen_and_ranked(top, model.labels, np.asarray(model.thresholds))
    return {"chosen": chosen, "ranked": ranked}


def renamed(rows: list[list[str]]) -> list[list[str]]:
    return [list(load_catalogue().canonical_tags(row)) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ensemble")
    parser.add_argument("--folder", type=Path, default=Path("models"))
    parser.add_argument("--part", default="test", choices=("validation", "test"))
    parser.add_argument("--save", type=Path, help="write this checkout's answers here, and stop")
    parser.add_argument("--beside", type=Path, help="answers another checkout saved, scored beside this one's")
    args = parser.parse_args()
    print(stamp(), flush=True)
    corpus = load_corpus()
    rows = corpus.complete(args.part)
    mine = answers(args.model, args.folder, texts(corpus, rows))
    if args.save:
        args.save.write_text(json.dumps({"part": args.part, "commit": stamp(), **mine}))
        return
    gold = gold_sets(corpus, rows)
    table = []
    if args.beside:
        before = json.loads(args.beside.read_text())
        if before["part"] != args.part:
            raise SystemExit(f"{args.beside} holds the {before['part']} part, not {args.part}")
        table.append({"model": "before, as named", **all_tag_metrics(gold, before["chosen"], before["ranked"])})
        scored = all_tag_metrics(gold, renamed(before["chosen"]), renamed(before["ranked"]))
        table.append({"model": "before, renamed", **scored})
    table.append({"model": "this checkout", **all_tag_metrics(gold, mine["chosen"], mine["ranked"])})
    print(f"{args.part} part of the open questions: {len(rows)}, gold tags under today's names")
    print(format_table(table, COLUMNS))


if __name__ == "__main__":
    main()
