"""Live learning through the public API: the real site (gunicorn, the models in models/) on a
fresh SQLite database, fed reviews the way a reviewer's client sends them.

Each review is ``POST /api/v1/suggest`` for a real question, then ``POST
/api/v1/predictions/<id>/feedback`` with its real tags: suggested tags among them accepted,
the others rejected, the missing ones added. Suggestions are read from the site's default
model (the ensemble, with the memory as a member) and from the memory alone.

1. A stream of real questions: the test part of the open questions (never trained on), in a
   fixed shuffled order (seed 0). After 0, 25, 50, 100 and 200 reviews, the same
   ``--n-eval`` questions after the 200th are asked: all-tag micro-F1, and the recall of the
   tags that first appeared in the reviews (on no training question) over the later
   questions that carry one (at most ``--n-eval``). Two workers: a review saved by one is
   learned by whichever answers next.
   Two reviewers take turns (without ``--header``), as a team would.
2. A new library: every open question tagged ``--tag`` (flutter) with the word and the tag
   renamed to ``--new-name`` (zorblet), so no model, catalogue or vectoriser knows either.
   (The models did learn flutter's other words, so they still suggest flutter there: a
   wrong tag under the new name.) The first 200 are reviewed; the ones after the 200th are
   scored after 0, 1, 3, 5, 25, 100 and 200 reviews: how often the new tag is suggested, micro-F1.
3. Speed and memory: ``--reviews`` reviews written to a database (rows as the site stores
   them), two single-worker servers on it (each replays them at start); a review saved on
   the first, then the second is asked the same question until the review's new tag shows:
   the time from the saved review to a changed suggestion, on the second worker. The
   second server's worker's resident memory with no review and with ``--reviews``.

    .venv/bin/python -m bench.review_learning_api [--n-eval 200] [--reviews 10000]
        [--header "Authorization: Bearer ..."]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.harness import reviewer_token, stamp, start_server, stop_server
from ml.data.sources import Corpus, load_corpus
from ml.evaluate import all_tag_metrics, format_table
from ml.paths import MODELS_DIR

ROOT = Path(__file__).resolve().parent.parent

CHECKPOINTS = (0, 25, 50, 100, 200)
# A new library is judged from its first reviews on: a reviewer teaches it one question at a time.
NEW_LIBRARY_CHECKPOINTS = (0, 1, 3, 5, 25, 100, 200)
MODELS = ("ensemble", "memory")
# A team of reviewers taking turns: a replacement needs two (``ml.backends.memory.index.MIN_REVIEWERS``).
REVIEWERS = 2


class Site:
    """A running site and the headers every request carries (a login token, when required)."""

    def __init__(
        self, base: str, headers: dict[str, str], shown: tuple[str, ...], reviewers: list[dict[str, str]] | None = None
    ):
        self.base, self.headers = base, headers
        self.shown = shown  # the models whose tags a reviewer sees and judges
        self.reviewers = reviewers or [{}]  # each reviewer's own headers: they take turns
        self.reviewed = 0

    def call(self, method: str, path: str, payload: dict | None = None, extra: dict[str, str] | None = None) -> dict:
        data = json.dumps(payload).encode() if payload is not None else None
        headers = {"Content-Type": "application/json", **self.headers, **(extra or {})}
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            raise SystemExit(f"{method} {path}: {error.code} {error.read()[:500]!r}") from None

    def ask(self, title: str, body: str = "", **settings) -> dict:
        return self.call("POST", "/api/v1/suggest", {"title": title, "body": body, "models": list(MODELS), **settings})

    def review(self, title: str, body: str, tags: list[str]) -> dict:
        created = self.ask(title, body, models=list(self.shown))
        suggested = {item["tag"] for answer in created["answers"].values() for item in answer["tags"]}
        verdict = {
            "accepted": sorted(suggested & set(tags)),
            "rejected": sorted(suggested - set(tags)),
            "added": [tag for tag in tags if tag not in suggested],
        }
        reviewer = self.reviewers[self.reviewed % len(self.reviewers)]
        self.reviewed += 1
        return self.call("POST", f"/api/v1/predictions/{created['id']}/feedback", verdict, reviewer)


def tags_of(created: dict, model: str) -> list[str]:
    return [item["tag"] for item in created["answers"].get(model, {}).get("tags", [])]


def served(headers: dict[str, str], database: Path, workers: int, log_name: str, shown: tuple[str, ...] = MODELS):
    """A site on ``database``; its reviews judge the tags of the ``shown`` models (by default
    both, side by side; the site's default page shows the ensemble alone: ``--shown ensemble``)."""
    log = open(Path(database).parent / log_name, "w")  # noqa: SIM115 - closed by stop_server
    server, base = start_server(workers, MODELS_DIR, database, ort_threads=1, log=log)
    reviewers = None
    if "Authorization" not in headers:  # reviewing needs a reviewer: two of its own, taking turns
        tokens = [reviewer_token(f"sqlite:///{database}") for _ in range(REVIEWERS)]
        reviewers = [{"Authorization": f"Bearer {token}"} for token in tokens]
        headers = headers | reviewers[0]
    return server, log, Site(base, headers, shown, reviewers)


def open_source(corpus: Corpus) -> int:
    """The source whose questions carry all their real tags (so_questions_open.jsonl)."""
    return next(k for k, source in enumerate(corpus.sources) if source.scope == "all")


def stream_rows(corpus: Corpus) -> list[int]:
    source = open_source(corpus)
    stream = [int(i) for i in corpus.complete("test") if corpus.source[i] == source]
    random.Random(0).shuffle(stream)
    return stream


def stream_of_reviews(corpus: Corpus, site: Site, n_eval: int) -> list[dict]:
    stream = stream_rows(corpus)
    # New: absent from every question the memory was seeded with (the training questions).
    known = set(next(m for m in site.call("GET", "/api/v1/models")["models"] if m["name"] == "memory")["labels"])
    evaluated = stream[CHECKPOINTS[-1] : CHECKPOINTS[-1] + n_eval]
    rows, done = [], 0
    for checkpoint in CHECKPOINTS:
        for i in stream[done:checkpoint]:
            question = corpus.questions[i]
            site.review(question.title, question.body, list(question.tags))
        done = checkpoint
        new_tags = {t for i in stream[:checkpoint] for t in corpus.questions[i].tags} - known
        later = [i for i in stream[CHECKPOINTS[-1] :] if new_tags & set(corpus.questions[i].tags)][:n_eval]
        row: dict = {"reviews": checkpoint, "new tags so far": len(new_tags), "their uses later": 0}
        answers = {i: site.ask(corpus.questions[i].title, corpus.questions[i].body) for i in set(evaluated + later)}
        for model in MODELS:
            chosen = [tags_of(answers[i], model) for i in evaluated]
            gold = [set(corpus.questions[i].tags) for i in evaluated]
            row[f"{model} micro-F1"] = all_tag_metrics(gold, chosen, chosen)["micro_f1"]
            uses = [(t, tags_of(answers[i], model)) for i in later for t in corpus.questions[i].tags if t in new_tags]
            row["their uses later"] = len(uses)
            row[f"{model} new-tag recall"] = round(sum(t in c for t, c in uses) / len(uses), 3) if uses else None
        rows.append(row)
        print(f"   {row}", flush=True)
    return rows


def renamed(corpus: Corpus, tag: str, name: str, rows: list[int] | None = None) -> list[tuple[str, str, list[str]]]:
    """The open questions tagged ``tag`` (of ``rows``, in their order; default: all of them),
    the word and the tag renamed ``name``, as (title, body, tags) shuffled with seed 0."""
    word = re.compile(re.escape(tag), re.IGNORECASE)
    source = open_source(corpus)
    if rows is None:
        rows = [i for i in range(len(corpus.questions)) if corpus.source[i] == source]
    questions = [
        (word.sub(name, q.title), word.sub(name, q.body), [t.replace(tag, name) for t in q.tags])
        for q in (corpus.questions[i] for i in rows)
        if tag in q.tags
    ]
    random.Random(0).shuffle(questions)
    return questions


def new_library(corpus: Corpus, site: Site, tag: str, name: str) -> list[dict]:
    questions = renamed(corpus, tag, name)
    later = questions[CHECKPOINTS[-1] :]
    print(f"   {len(questions)} {tag} questions renamed {name}; {len(later)} scored after the 200th review")
    rows, done = [], 0
    for checkpoint in NEW_LIBRARY_CHECKPOINTS:
        for title, body, tags in questions[done:checkpoint]:
            site.review(title, body, tags)
        done = checkpoint
        answers = [site.ask(title, body) for title, body, _ in later]
        gold = [set(tags) for _, _, tags in later]
        row: dict = {"reviews": checkpoint}
        for model in MODELS:
            chosen = [tags_of(answer, model) for answer in answers]
            row[f"{model}: {name} suggested"] = round(sum(name in c for c in chosen) / len(chosen), 3)
            row[f"{model} micro-F1"] = all_tag_metrics(gold, chosen, chosen)["micro_f1"]
        rows.append(row)
        print(f"   {row}", flush=True)
    title, body, _ = later[0]  # asked again with its reasons, which suggestions leave out by default
    example = site.call("POST", "/api/v1/suggest?explain=1", {"title": title, "body": body, "models": list(MODELS)})
    reasons = example["answers"]["ensemble"].get("reasons", {}).get(name, [])
    because = [f"#{r['question_id']}" for r in reasons if r["kind"] == "reviewed"]
    because += [f"in place of {r['text']} ({r['weight']:.0%})" for r in reasons if r["kind"] == "replaced"]
    print(f"   e.g. {example['title'][:60]!r}: ensemble {tags_of(example, 'ensemble')}, {name}: {', '.join(because)}")
    return rows


def write_reviews(database: Path, corpus: Corpus, n: int) -> None:
    """``n`` reviewed questions (held-out questions of every source with their real tags),
    stored as the site stores a review, straight into the database: 2n API calls would
    take longer than everything else here."""
    from webapp import create_app
    from webapp.core.extensions import db
    from webapp.core.tables import ADDED, Question, ReviewedTag, utc_now

    held_out = [int(i) for part in ("validation", "test") for i in corpus.indices(part)]
    random.Random(1).shuffle(held_out)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}", "PRELOAD_MODELS": False})
    with app.app_context():
        for start in range(0, n, 1000):
            for i in held_out[start : min(n, start + 1000)]:
                question = corpus.questions[i]
                prediction = Question(
                    title=question.title, body=question.body, source="api", top_k=5, reviewed_at=utc_now()
                )
                prediction.review = [
                    ReviewedTag(tag=tag, verdict=ADDED, position=k) for k, tag in enumerate(question.tags)
                ]
                db.session.add(prediction)
            db.session.commit()


def worker_rss_mb(server) -> float:
    """Resident memory of the server's (only) worker: the master's child."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    with open(f"/proc/{children[0]}/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


def speed_and_memory(corpus: Corpus, headers: dict[str, str], folder: Path, n_reviews: int, probes: int) -> list[dict]:
    rows = []
    empty = folder / "empty.sqlite3"
    write_reviews(empty, corpus, 0)
    server, log, _ = served(headers, empty, 1, "empty.log")
    try:
        rss_empty = worker_rss_mb(server)
    finally:
        stop_server(server, log)
    database = folder / "speed.sqlite3"
    started = time.perf_counter()
    write_reviews(database, corpus, n_reviews)
    print(f"   {n_reviews:,} reviews written in {time.perf_counter() - started:.0f} s")
    first, first_log, saver = served(headers, database, 1, "first.log")
    second, second_log, other = served(headers, database, 1, "second.log")
    try:
        rss_full = worker_rss_mb(second)
        stream = stream_rows(corpus)[-probes:]
        delays, polls = [], []
        for k, i in enumerate(stream):
            question, new_tag = corpus.questions[i], f"brand-new-tag-{k}"
            other.ask(question.title, question.body)  # the second worker is up to date before
            saver.review(question.title, question.body, [*question.tags, new_tag])
            saved = time.perf_counter()
            for attempt in range(1, 100):
                answer = other.ask(question.title, question.body, top_k=20, threshold=0.0)
                if new_tag in tags_of(answer, "memory"):
                    delays.append(time.perf_counter() - saved)
                    polls.append(attempt)
                    break
        delays.sort()
        rows.append(
            {
                "reviews in memory": n_reviews,
                "reflected on the 2nd worker": f"{len(delays)}/{len(stream)}",
                "first ask showing it": f"{sum(p == 1 for p in polls)}/{len(polls)}",
                "p50 ms": round(delays[len(delays) // 2] * 1000, 1) if delays else None,
                "max ms": round(delays[-1] * 1000, 1) if delays else None,
                "worker RSS MB, no review": round(rss_empty),
                f"worker RSS MB, {n_reviews:,}": round(rss_full),
                "MB per 1,000 reviews": round((rss_full - rss_empty) / n_reviews * 1000, 2),
            }
        )
    finally:
        stop_server(first, first_log)
        stop_server(second, second_log)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-eval", type=int, default=200, help="questions scored at each checkpoint of the stream")
    parser.add_argument("--tag", default="flutter", help="the library renamed for part 2")
    parser.add_argument("--new-name", default="zorblet", help="its new name, which no model knows")
    parser.add_argument("--reviews", type=int, default=10_000, help="reviews in the database for part 3")
    parser.add_argument("--probes", type=int, default=30, help="reviews timed in part 3")
    parser.add_argument("--parts", default="1,2,3", help="which parts to run")
    parser.add_argument(
        "--shown", default=",".join(MODELS), help="the models whose tags reviewers see and judge (default: %(default)s)"
    )
    parser.add_argument(
        "--header", action="append", default=[], help='a header every request sends, e.g. "Authorization: Bearer T"'
    )
    args = parser.parse_args()
    print(stamp(), flush=True)
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    parts = set(args.parts.split(","))
    shown = tuple(args.shown.split(","))
    started = time.perf_counter()
    corpus = load_corpus()
    with tempfile.TemporaryDirectory(prefix="tagsmith-learning-") as name:
        folder = Path(name)
        results = {}
        parts_1_2 = (
            (
                "1",
                "Stream of real test questions, 2 workers",
                lambda site: stream_of_reviews(corpus, site, args.n_eval),
            ),
            (
                "2",
                f"New library ({args.tag} renamed {args.new_name})",
                lambda site: new_library(corpus, site, args.tag, args.new_name),
            ),
        )
        for part, title, run in parts_1_2:
            if part not in parts:
                continue
            print(f"\n{part}. {title}", flush=True)
            server, log, site = served(headers, folder / f"part{part}.sqlite3", 2, f"part{part}.log", shown)
            try:
                results[part] = run(site)
            finally:
                stop_server(server, log)
            print(format_table(results[part], list(results[part][0])))
        if "3" in parts:
            print(f"\n3. A review reflected on a second worker, {args.reviews:,} reviews in memory", flush=True)
            rows = speed_and_memory(corpus, headers, folder, args.reviews, args.probes)
            print(format_table(rows, list(rows[0])))
    print(f"\n(done in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
