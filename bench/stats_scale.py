"""How /stats (and, for context, the ask and history pages) scale with the stored history.

Fills a database with --questions realistic questions through SQLAlchemy Core bulk inserts
(the site's own tables, made by the site itself): each question answered by one model
(70%: mostly the ensemble) or by every model (30%), each answer 1-5 tags drawn from a
skewed vocabulary around the question's own right tags, lognormal latencies per model,
--reviewed of the questions reviewed (every suggested tag judged, missed right tags
added). Then times single GET requests through Flask's test client and prints p50/p95 per
page. No model is loaded: the pages read the database only.

    .venv/bin/python -m bench.stats_scale --questions 100000                  # a temporary SQLite file
    .venv/bin/python -m bench.stats_scale --questions 100000 --url postgresql+psycopg://...
    .venv/bin/python -m bench.stats_scale --url sqlite:////tmp/big.sqlite3 --no-fill   # measure again

A PostgreSQL server to try: ``.venv/bin/python -m tests.helpers.postgres`` prints its URL (the
database ``postgres`` there is as good as any). With --keep the SQLite file stays for
another run (--no-fill measures it again, e.g. after upgrading the code).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

from bench.harness import stamp
from ml.registry import model_names

ROOT = Path(__file__).resolve().parent.parent

PAGES = ("/stats", "/", "/history/")
CHUNK = 10_000  # questions per insert round
# Per model: the median latency in ms and the spread of its logarithm.
LATENCY = {"baseline": (4.7, 0.25), "transformer": (22.0, 0.2), "omikuji": (5.3, 0.3), "lexical": (3.6, 0.3)}
DEFAULT_LATENCY = (25.0, 0.35)


def make_app(url: str):
    from webapp import create_app

    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "PRELOAD_MODELS": False,
            "MODELS_DIR": str(ROOT / "no-models-here"),
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "STATEMENT_TIMEOUT_MS": 0,
        }
    )


def fill(url: str, questions: int, reviewed_share: float, seed: int = 0) -> float:
    """Store ``questions`` questions; returns the seconds it took."""
    from webapp.core.extensions import db
    from webapp.core.tables import ModelAnswer, Question, ReviewedTag, SuggestedTag

    app = make_app(url)
    names = model_names()
    rng = random.Random(seed)
    vocabulary = [f"tag-{number}" for number in range(2000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    started = time.perf_counter()
    with app.app_context():
        first = (db.session.scalar(select(func.max(Question.id))) or 0) + 1
        answer_id = (db.session.scalar(select(func.max(ModelAnswer.id))) or 0) + 1
        tag_id = (db.session.scalar(select(func.max(SuggestedTag.id))) or 0) + 1
        review_id = (db.session.scalar(select(func.max(ReviewedTag.id))) or 0) + 1
        moment = datetime(2026, 1, 1)
        for start in range(first, first + questions, CHUNK):
            predictions, answers, tags, reviews = [], [], [], []
            for prediction_id in range(start, min(start + CHUNK, first + questions)):
                moment += timedelta(seconds=rng.randint(0, 3))
                right = set(rng.choices(vocabulary, weights, k=rng.randint(1, 4)))
                asked = names if rng.random() < 0.3 else (names[-1] if rng.random() < 0.8 else rng.choice(names),)
                reviewed = rng.random() < reviewed_share
                suggested: set[str] = set()
                for model in asked:
                    median, spread = LATENCY.get(model, DEFAULT_LATENCY)
                    answers.append(
                        {
                            "id": answer_id,
                            "prediction_id": prediction_id,
                            "model": model,
                            "model_version": f"{model}-bench",
                            "latency_ms": round(rng.lognormvariate(math.log(median), spread), 3),
                            "created_at": moment,
                        }
                    )
                    count = rng.randint(1, 5)
                    own = [tag for tag in right if rng.random() < 0.7]
                    own += rng.choices(vocabulary, weights, k=count)
                    chosen = list(dict.fromkeys(own))[:count]
                    suggested.update(chosen)
                    for rank, tag in enumerate(chosen):
                        score = round(0.95 - 0.15 * rank - rng.random() * 0.1, 4)
                        tags.append(
                            {"id": tag_id, "answer_id": answer_id, "rank": rank, "tag": tag, "score": score,
                             "confident": score > 0.4}
                        )  # fmt: skip
                        tag_id += 1
                    answer_id += 1
                predictions.append(
                    {
                        "id": prediction_id,
                        "title": f"bench question {prediction_id} about {' and '.join(sorted(right))}",
                        "body": "",
                        "created_at": moment,
                        "source": "api",
                        "top_k": 5,
                        "threshold": None,
                        "reviewed_at": moment + timedelta(minutes=5) if reviewed else None,
                    }
                )
                if reviewed:
                    verdicts = [(tag, "accepted" if tag in right else "rejected") for tag in sorted(suggested)]
                    verdicts += [(tag, "added") for tag in sorted(right - suggested)]
                    for position, (tag, verdict) in enumerate(verdicts):
                        reviews.append(
                            {"id": review_id, "prediction_id": prediction_id, "tag": tag, "verdict": verdict,
                             "position": position}
                        )  # fmt: skip
                        review_id += 1
            with db.engine.begin() as connection:
                for table, rows in (
                    (Question, predictions),
                    (ModelAnswer, answers),
                    (SuggestedTag, tags),
                    (ReviewedTag, reviews),
                ):
                    if rows:
                        store(connection, table.__table__, rows)
            print(f"  {start + len(predictions) - first:,} questions", end="\r", file=sys.stderr, flush=True)
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # The ids were given: move each sequence past them, as the site's inserts would.
                for table in ("predictions", "model_answers", "suggested_tags", "reviewed_tags"):
                    connection.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
                    )
                connection.execute(text("ANALYZE"))
            else:
                connection.execute(text("ANALYZE"))
        print(file=sys.stderr)
        after_fill(app)
        db.engine.dispose()
    return time.perf_counter() - started


def store(connection, table, rows: list[dict]) -> None:
    """PostgreSQL: COPY (ten times the speed of INSERTs here); SQLite: executemany."""
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    columns = list(rows[0])
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])


def after_fill(app) -> None:
    """The rows went in behind the site's back: recompute the totals /stats reads."""
    from webapp.core.extensions import db
    from webapp.stats.counters import rebuild

    started = time.perf_counter()
    with db.engine.begin() as connection:
        rebuild(connection)
    print(f"rebuilt the /stats totals in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def measure(url: str, pages: tuple[str, ...], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Milliseconds of each GET, after ``warmup`` untimed requests per page."""
    from webapp.core.extensions import db

    started = time.perf_counter()
    app = make_app(url)
    print(f"site started (migrations included) in {time.perf_counter() - started:.1f} s")
    client = app.test_client()
    timings: dict[str, list[float]] = {}
    for page in pages:
        for _ in range(warmup):
            response = client.get(page)
            assert response.status_code == 200, (page, response.status_code, response.get_data(as_text=True)[:500])
        timings[page] = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(page)
            timings[page].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, page
    with app.app_context():
        db.engine.dispose()
    return timings


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * q / 100)) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=100_000)
    parser.add_argument("--reviewed", type=float, default=0.1, help="share of the questions reviewed")
    parser.add_argument("--url", help="database URL (default: a new SQLite file in a temporary folder)")
    parser.add_argument("--no-fill", action="store_true", help="measure the database as it is")
    parser.add_argument("--keep", action="store_true", help="keep the temporary SQLite file")
    parser.add_argument("--repeats", type=int, default=20, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=1, help="untimed requests per page first")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated paths")
    args = parser.parse_args(argv)
    print(stamp(), flush=True)

    folder = None
    url = args.url
    if url is None:
        folder = tempfile.mkdtemp(prefix="tagsmith-stats-")
        url = f"sqlite:///{folder}/bench.sqlite3"
    if not args.no_fill:
        seconds = fill(url, args.questions, args.reviewed)
        print(f"filled {args.questions:,} questions in {seconds:.1f} s ({url.split('@')[-1]})")
    timings = measure(url, tuple(page for page in args.pages.split(",") if page), args.repeats, args.warmup)
    for page, values in timings.items():
        print(
            f"{page:12} p50 {statistics.median(values):8.1f} ms   p95 {nearest_rank(values, 95):8.1f} ms"
            f"   ({len(values)} requests)"
        )
    if folder and args.keep:
        print(f"kept {url}")
    elif folder:
        for path in Path(folder).iterdir():
            path.unlink()
        Path(folder).rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
