"""Issue 26's dense neighbour member, tried before it is built: the fine-tuned transformer's
own sentence embeddings (the mean-pooled output its head reads), the nearest training titles
voting for their tags, alone and as one more feature of the ensemble's combiner.

    python -m bench.dense_neighbours [--neighbours 30] [--power 3]

The committed ONNX graph outputs only logits; the script copies it with the pooled embedding
as a second output (``onnx``, from the training extras). Everything is measured on the
validation part of the open questions (the combiner out of fold, two seeds), never on test.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from bench.harness import stamp
from ml.backends.ensemble import out_of_fold_probabilities
from ml.backends.transformer.onnx_runtime import MODEL_FILE, TOKENIZER_FILE, encode, load_tokenizer, new_session
from ml.data.sources import load_corpus
from ml.evaluate import all_tag_metrics, format_table
from ml.registry import load_predictor
from ml.training.open_corpus import chosen_and_ranked, gold_sets, texts, tune_threshold

POOLED = "/Div_output_0"  # the mean over tokens that the head's MatMul reads


def embedding_session(folder: Path, work: Path):
    import onnx
    from onnx import TensorProto, helper

    graph = onnx.load(str(folder / MODEL_FILE))
    graph.graph.output.append(helper.make_tensor_value_info(POOLED, TensorProto.FLOAT, ["batch", None]))
    onnx.save(graph, str(work / MODEL_FILE))
    return new_session(work / MODEL_FILE)


def embed(session, tokenizer, titles: list[str]) -> np.ndarray:
    parts = [session.run([POOLED], encode(tokenizer, titles[s : s + 64]))[0] for s in range(0, len(titles), 64)]
    vectors = np.vstack(parts).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def neighbour_votes(queries, memory, memory_tags, k: int, power: float) -> list[dict[str, float]]:
    votes = []
    for start in range(0, len(queries), 512):
        similarity = queries[start : start + 512] @ memory.T
        nearest = np.argpartition(-similarity, k, axis=1)[:, :k]
        for row, columns in enumerate(nearest):
            weights = np.maximum(similarity[row, columns], 0) ** power
            tally: dict[str, float] = {}
            for column, weight in zip(columns, weights, strict=True):
                for tag in memory_tags[column]:
                    tally[tag] = tally.get(tag, 0.0) + float(weight)
            total = float(weights.sum()) + 1e-9
            votes.append({tag: value / total for tag, value in tally.items()})
    return votes


def combiner_f1(features, hits, owner, tags_per_row, ensemble, gold, seed: int) -> dict:
    """The ensemble's own fit, out of fold, at its best global threshold."""
    probabilities = out_of_fold_probabilities(features, hits, owner, len(tags_per_row), seed)
    top = ensemble.ranked_candidates(tags_per_row, probabilities)
    threshold, _ = tune_threshold(top, ensemble.labels, list(gold))
    return all_tag_metrics(list(gold), *chosen_and_ranked(top, ensemble.labels, threshold))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--neighbours", type=int, default=30)
    parser.add_argument("--power", type=float, default=3.0)
    args = parser.parse_args()
    print(stamp(), flush=True)
    folder = args.models_dir / "transformer"
    metadata = json.loads((folder / "metadata.json").read_text())
    tokenizer = load_tokenizer(folder / TOKENIZER_FILE, metadata["max_length"])
    corpus = load_corpus()
    train, validation = corpus.complete("train"), corpus.complete("validation")
    gold = gold_sets(corpus, validation)
    with tempfile.TemporaryDirectory() as work:
        session = embedding_session(folder, Path(work))
        memory = embed(session, tokenizer, [corpus.questions[i].title for i in train])
        queries = embed(session, tokenizer, [corpus.questions[i].title for i in validation])
    votes = neighbour_votes(queries, memory, gold_sets(corpus, train), args.neighbours, args.power)
    table = []
    for threshold in (0.2, 0.3, 0.4):
        ranked = [sorted(tally, key=lambda tag: -tally[tag])[:5] for tally in votes]
        chosen = [[t for t in r if tally[t] >= threshold] or r[:1] for r, tally in zip(ranked, votes, strict=True)]
        metrics = all_tag_metrics(gold, chosen, ranked)
        table.append({"model": f"dense neighbours alone, threshold {threshold}", **metrics})
    ensemble = load_predictor("ensemble", args.models_dir)
    tags_per_row, features = ensemble.candidates(texts(corpus, validation))
    owner = np.repeat(np.arange(len(tags_per_row)), [len(tags) for tags in tags_per_row])
    flat = [tag for tags in tags_per_row for tag in tags]
    hits = np.array([tag in gold[row] for tag, row in zip(flat, owner.tolist(), strict=True)], dtype=np.int64)
    rank_of = [{tag: i for i, tag in enumerate(sorted(t, key=lambda tag: -t[tag]))} for t in votes]
    extra = np.array(
        [[votes[row].get(tag, 0.0), rank_of[row].get(tag, 50)] for tag, row in zip(flat, owner.tolist(), strict=True)]
    )
    for seed in (0, 1):
        for label, matrix in (("ensemble's combiner", features), ("+ dense neighbours", np.hstack([features, extra]))):
            metrics = combiner_f1(matrix, hits, owner, tags_per_row, ensemble, gold, seed)
            table.append({"model": f"{label}, seed {seed}, out of fold", **metrics})
    print(f"validation part of the open questions ({len(validation)}), titles embedded, k={args.neighbours}")
    print(format_table(table, ["model", "micro_f1", "precision_at_1", "recall_at_5"]))


if __name__ == "__main__":
    main()
