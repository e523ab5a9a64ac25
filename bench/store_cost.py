"""What storing one suggestion costs in one process, and how long it holds SQLite's write lock.

SQLite lets one connection write at a time: from a transaction's first INSERT to the end of
its commit every other gunicorn worker's write waits, so that span bounds how many questions
the site can store per second however many cores it has. This stores ``--questions`` real
titles and bodies (data/so_questions_open.jsonl) with the baseline model's real answers
(its time is not counted) through ``webapp.ask.suggest.store_predictions``, one question per
transaction as the suggest endpoint does, and prints the mean and median of the whole store
and of the write-lock span (first INSERT, UPDATE or DELETE to the end of the commit); the
first fifth is a warm-up and not counted.

The questions are really stored: point ``--database`` at a copy when it matters (e.g. of the
million-question file ``bench/history_scale.py --keep`` leaves); without it a new empty file
in a temporary folder is used.

    .venv/bin/python -m bench.store_cost [--database FILE.sqlite3] [--questions 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import stamp

ROOT = Path(__file__).resolve().parent.parent

WRITES = ("INSERT", "UPDATE", "DELETE")


def measure(database: Path, questions: int, models_dir: Path) -> tuple[list[float], list[float]]:
    from sqlalchemy import event

    from ml.registry import load_predictor
    from ml.text import question_text
    from webapp import create_app
    from webapp.ask.suggest import ModelRun, store_questions
    from webapp.core.database import transaction
    from webapp.core.extensions import db

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "PRELOAD_MODELS": False,
            "MODELS_DIR": str(models_dir),
            "SECRET_KEY": "bench",
        }
    )
    baseline = load_predictor("baseline", models_dir)
    with open(ROOT / "data" / "so_questions_open.jsonl", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    chooser = random.Random(1)
    stored, held = [], []
    first_write: list[float] = []
    with app.app_context():

        @event.listens_for(db.engine, "before_cursor_execute")
        def note_first_write(_connection, _cursor, statement, *_args) -> None:
            if not first_write and statement.lstrip()[:6].upper() in WRITES:
                first_write.append(time.perf_counter())

        for _ in range(questions):
            record = records[chooser.randrange(len(records))]
            title, body = record["title"][:300], (record.get("body") or "")[:50_000]
            answers = baseline.suggest([question_text(title, body)], top_k=5, threshold=None)
            run = ModelRun("baseline", baseline.version, 1.0, answers)
            started = time.perf_counter()
            with transaction() as session:
                store_questions(session, [run], [(title, body)], 5, None, "api")
            ended = time.perf_counter()
            stored.append(ended - started)
            held.append(ended - first_write.pop())
    warm_up = questions // 5
    return stored[warm_up:], held[warm_up:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", type=Path, help="a SQLite file to store into (default: a new empty one)")
    parser.add_argument("--questions", type=int, default=2000, help="(default: %(default)s)")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models", help="(default: models/)")
    args = parser.parse_args()
    print(stamp(), flush=True)
    if args.questions < 5:
        parser.error("--questions: at least 5")
    with tempfile.TemporaryDirectory(prefix="tagsmith-store-") as folder:
        database = args.database or Path(folder) / "empty.sqlite3"
        stored, held = measure(database, args.questions, args.models_dir)
    print(
        f"{database.name}: store {statistics.mean(stored) * 1000:.2f} ms mean, "
        f"{statistics.median(stored) * 1000:.2f} median; write lock held {statistics.mean(held) * 1000:.2f} ms mean, "
        f"{statistics.median(held) * 1000:.2f} median ({len(stored)} questions after {args.questions // 5} unmeasured)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
