"""How fast the memory of reviewed questions (``ml/backends/memory/``) learns from reviews.

1. A stream of real questions: the test part of the open questions (never the training
   part), in a fixed shuffled order (seed 0), replayed as reviews with their real tags. After
   0, 25, 50, 100 and 200 reviews the next ``--n-eval`` questions of the stream are scored
   (before they are reviewed themselves): all-tag micro-F1 of the memory alone, and the recall
   of the tags that first appeared in the reviews (absent from every training question), over
   every later question of the stream that carries one (too few are among the next 300). The
   memory seeded with the training questions and an empty one (same vectoriser), side by side.
2. A new library: every question tagged ``--tag`` (flutter by default: 381 questions in the
   open file) is held out of training, and so is every training question that merely
   mentions it, so the vectoriser never saw the word and no seed question carries the tag,
   as for a library born after the training data. Its questions, shuffled (seed 0), are
   replayed as reviews; after 0, 25, 50, 100 and 200 reviews the questions after the 200th
   are scored: how often the tag is suggested, all-tag micro-F1, and the memory seeded
   without them as "a model that never saw the tag" at 0 reviews.
3. Speed and memory with 10,000 reviewed questions (held-out questions of every source):
   replay time (``add_many``), ``add`` and one prediction one at a time, the time from
   ``add`` to a suggestion that shows the new tag, and resident memory per 1,000 questions.

    .venv/bin/python -m bench.review_learning [--n-eval 300] [--tag flutter]
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import time
import tracemalloc

import numpy as np

from bench.harness import resident_mb, stamp
from ml.backends.memory import ReviewMemory
from ml.data.sources import Corpus, load_corpus
from ml.evaluate import all_tag_metrics, format_table
from ml.training.open_corpus import gold_sets, texts, top_scores, tune_threshold

CHECKPOINTS = (0, 25, 50, 100, 200)


def build(corpus: Corpus, left_out: set[int], remember: bool = True) -> ReviewMemory:
    """The memory as ``python -m ml train --model memory`` builds it (settings chosen on
    validation there), without the ``left_out`` rows; its threshold tuned on validation."""
    rows = [i for i in corpus.complete("train") if i not in left_out]
    model = ReviewMemory()
    model.fit(texts(corpus, rows), [corpus.questions[i].tags for i in rows], [f"train:{i}" for i in rows], remember)
    model.base_labels = list(model.labels)
    validation = [i for i in corpus.complete("validation") if i not in left_out]
    if remember:
        top = top_scores(model.predict_scores, texts(corpus, validation))
        model.threshold, _ = tune_threshold(top, model.labels, gold_sets(corpus, validation))
        model.thresholds = np.full(len(model.labels), model.threshold)
    return model


def score(model: ReviewMemory, corpus: Corpus, rows: list[int]) -> tuple[dict, list[list[str]]]:
    suggested = model.suggest(texts(corpus, rows), top_k=5)
    chosen = [[s.tag for s in row] for row in suggested]
    return all_tag_metrics(gold_sets(corpus, rows), chosen, chosen), chosen


def stream_of_reviews(corpus: Corpus, n_eval: int) -> None:
    stream = [int(i) for i in corpus.complete("test")]
    random.Random(0).shuffle(stream)
    seeded = build(corpus, set())
    empty = build(corpus, set(), remember=False)
    empty.threshold, empty.thresholds = seeded.threshold, np.full(len(empty.labels), seeded.threshold)
    table = []
    for name, model in (("seeded (all)", seeded), ("empty", empty)):
        known = set(model.base_labels)
        done = 0
        for checkpoint in CHECKPOINTS:
            model.add_many(
                (text, corpus.questions[i].tags, i)
                for text, i in zip(texts(corpus, stream[done:checkpoint]), stream[done:checkpoint], strict=True)
            )
            done = checkpoint
            new_tags = {t for i in stream[:checkpoint] for t in corpus.questions[i].tags} - known
            rows = stream[checkpoint : checkpoint + n_eval]
            metrics, chosen = score(model, corpus, rows)
            fixed, _ = score(model, corpus, stream[CHECKPOINTS[-1] : CHECKPOINTS[-1] + n_eval])
            # New tags are rare: their recall is counted over every later question of the stream that has one.
            later = [i for i in stream[checkpoint:] if new_tags & set(corpus.questions[i].tags)]
            _, later_chosen = score(model, corpus, later) if later else ({}, [])
            new_gold = [
                (t, c)
                for i, c in zip(later, later_chosen, strict=True)
                for t in corpus.questions[i].tags
                if t in new_tags
            ]
            table.append(
                {
                    "memory": name,
                    "reviews": checkpoint,
                    "micro-F1": metrics["micro_f1"],
                    "P": metrics["micro_precision"],
                    "R": metrics["micro_recall"],
                    "micro-F1 after 200th": fixed["micro_f1"],
                    "new tags reviewed": len(new_tags),
                    "their uses later": len(new_gold),
                    "recall of new tags": round(sum(t in c for t, c in new_gold) / len(new_gold), 3)
                    if new_gold
                    else None,
                }
            )
    print(
        f"\n1. Test questions replayed as reviews; each row scores the next {n_eval} questions of the stream "
        f"(and, to compare rows, the same {n_eval} questions after the 200th)"
    )
    print(
        format_table(
            table,
            [
                "memory",
                "reviews",
                "micro-F1",
                "P",
                "R",
                "micro-F1 after 200th",
                "new tags reviewed",
                "their uses later",
                "recall of new tags",
            ],
        )
    )


def new_library(corpus: Corpus, tag: str) -> None:
    word = re.compile(rf"\b{re.escape(tag)}\b", re.IGNORECASE)
    tagged = {i for i, q in enumerate(corpus.questions) if tag in q.tags}
    mentions = {i for i in corpus.indices("train") if word.search(corpus.questions[i].title + corpus.questions[i].body)}
    stream = sorted(i for i in tagged if corpus.sources[corpus.source[i]].scope == "all")
    random.Random(0).shuffle(stream)
    model = build(corpus, tagged | mentions)
    assert tag not in model.labels and not any(word.search(term) for term in model.vocabulary_)
    later = stream[CHECKPOINTS[-1] :]
    print(
        f"\n2. New library: {tag!r}: {len(tagged)} questions held out ({len(stream)} with complete tags), "
        f"{len(mentions - tagged)} more training questions that mention it; the vectoriser never saw the word. "
        f"Scored on the {len(later)} questions after the 200th review."
    )
    table, done = [], 0
    for checkpoint in CHECKPOINTS:
        model.add_many(
            (text, corpus.questions[i].tags, i)
            for text, i in zip(texts(corpus, stream[done:checkpoint]), stream[done:checkpoint], strict=True)
        )
        done = checkpoint
        metrics, chosen = score(model, corpus, later)
        table.append(
            {
                "reviews": checkpoint,
                f"{tag} suggested": round(float(np.mean([tag in c for c in chosen])), 3),
                "micro-F1": metrics["micro_f1"],
                "P": metrics["micro_precision"],
                "R": metrics["micro_recall"],
                "P@1": metrics["precision_at_1"],
            }
        )
    print(format_table(table, ["reviews", f"{tag} suggested", "micro-F1", "P", "R", "P@1"]))
    example = texts(corpus, later[:1])[0]
    for suggestion in model.suggest_with_evidence([example], top_k=3, max_refs=3)[0]:
        because = ", ".join(f"#{ref}" if isinstance(ref, int) else str(ref) for ref in suggestion.refs)
        print(f"   {example.splitlines()[0][:60]!r}: {suggestion.tag} {suggestion.score:.2f} because of {because}")


def percentiles(times: list[float]) -> str:
    return f"{np.percentile(times, 50) * 1000:.2f} / {np.percentile(times, 95) * 1000:.2f} / {max(times) * 1000:.1f} ms"


def speed_and_memory(corpus: Corpus, n_reviews: int) -> None:
    held_out = [int(i) for part in ("validation", "test") for i in corpus.indices(part)]
    random.Random(0).shuffle(held_out)
    reviews = held_out[:n_reviews]
    model = build(corpus, set())
    step = n_reviews // 5
    timed = []
    for start in range(0, n_reviews, step):
        chunk = reviews[start : start + step]
        started = time.perf_counter()
        model.add_many((text, corpus.questions[i].tags, i) for text, i in zip(texts(corpus, chunk), chunk, strict=True))
        timed.append(time.perf_counter() - started)
    # Memory: the same reviews into an empty memory with the same vectoriser, every allocation
    # traced (numpy's included): what the reviews themselves cost, whatever the allocator keeps.
    empty = ReviewMemory()
    empty.vocabulary_, empty.idf_, empty.oov_idf_ = model.vocabulary_, model.idf_, model.oov_idf_
    empty.catalogue = model.catalogue
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    rows = []
    for n, start in enumerate(range(0, n_reviews, step)):
        chunk = reviews[start : start + step]
        inputs = texts(corpus, chunk)
        empty.add_many((text, corpus.questions[i].tags, i) for text, i in zip(inputs, chunk, strict=True))
        del inputs
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
        rows.append(
            {
                "reviews": start + len(chunk),
                "replay seconds": round(timed[n], 2),
                "traced MB": round(held / 1e6, 2),
                "traced MB per 1,000": round(held / (start + len(chunk)) * 1000 / 1e6, 3),
                "index MB": round(empty.memory_bytes() / 1e6, 2),
            }
        )
    tracemalloc.stop()
    print(
        f"\n3. Replaying {n_reviews:,} reviews (add_many, {step:,} at a time) into the seeded memory "
        f"({len(model) - n_reviews:,} seed questions): time; memory held by the same reviews in an empty memory"
    )
    print(format_table(rows, ["reviews", "replay seconds", "traced MB", "traced MB per 1,000", "index MB"]))
    print(f"   RSS of this process now: {resident_mb():.0f} MB")

    probes = held_out[n_reviews : n_reviews + 200]
    probe_texts = texts(corpus, probes)
    adds, predictions, reflected = [], [], []
    for k, (text, i) in enumerate(zip(probe_texts, probes, strict=True)):
        started = time.perf_counter()
        model.suggest([text], top_k=5)
        predictions.append(time.perf_counter() - started)
        started = time.perf_counter()
        model.add(text, [*corpus.questions[i].tags, f"brand-new-tag-{k}"], ref=10_000_000 + k)
        adds.append(time.perf_counter() - started)
        seen = any(s.tag == f"brand-new-tag-{k}" for s in model.suggest([text], top_k=20, ensure_one=False)[0])
        reflected.append((time.perf_counter() - started, seen))
    bodies = sum("\n" in t for t in probe_texts)
    print(
        f"\n   With {len(model):,} questions remembered ({n_reviews:,} reviews + the seed), {len(probes)} held-out "
        f"questions ({bodies} with a body), one at a time, p50 / p95 / max:"
    )
    print(
        format_table(
            [
                {"operation": "suggest (one question)", "time": percentiles(predictions)},
                {"operation": "add (one review)", "time": percentiles(adds)},
                {
                    "operation": "add, then suggest shows its new tag",
                    "time": percentiles([t for t, _ in reflected]),
                },
            ],
            ["operation", "time"],
        )
    )
    print(
        f"   the new tag was suggested right after its review in {sum(s for _, s in reflected)}/{len(reflected)} cases"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-eval", type=int, default=300, help="questions scored at each checkpoint of the stream")
    parser.add_argument("--tag", default="flutter", help="the library held out of training for part 2")
    parser.add_argument("--reviews", type=int, default=10_000, help="reviews replayed for part 3")
    args = parser.parse_args()
    print(stamp(), flush=True)
    started = time.perf_counter()
    corpus = load_corpus()
    stream_of_reviews(corpus, args.n_eval)
    new_library(corpus, args.tag)
    speed_and_memory(corpus, args.reviews)
    print(f"\n(done in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
