"""Concurrent reviews of one question on a real gunicorn server, SQLite and PostgreSQL.

Two reviewers (made through the app factory, as ``flask reviewer create`` and ``token`` make
them) send ``--requests`` reviews of the same question at once through the JSON API. Prints
per back-end the answers' statuses, the wall time and p50/p95 latency, and checks what was
stored: every review in the log, and the question's current verdicts equal to the newest
one's. PostgreSQL is a throwaway cluster (tests/helpers/postgres.py), skipped where none can start.
Talks only to 127.0.0.1.

    .venv/bin/python -m bench.review_concurrency [--requests 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.harness import free_port, percentile, reviewer_token, stamp, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent


def serve(url: str, workers: int, models_dir: Path, log) -> tuple[subprocess.Popen, str]:
    return start_server(workers, models_dir, url, 1, log)


def call(method: str, url: str, payload: dict | None = None, token: str | None = None) -> tuple[int, dict, float]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, body = response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        status, body = error.code, json.loads(error.read() or b"{}")
    return status, body, (time.perf_counter() - started) * 1000


def stored_state(url: str, prediction_id: int) -> tuple[int, bool]:
    """(reviews in the log, whether the current verdicts equal the newest review's)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        logged = connection.execute(
            text("SELECT count(*) FROM reviews WHERE prediction_id = :id"), {"id": prediction_id}
        ).scalar()
        newest = connection.execute(
            text(
                "SELECT tag, verdict, position FROM review_verdicts WHERE review_id = "
                "(SELECT max(id) FROM reviews WHERE prediction_id = :id) ORDER BY position"
            ),
            {"id": prediction_id},
        ).all()
        current = connection.execute(
            text("SELECT tag, verdict, position FROM reviewed_tags WHERE prediction_id = :id ORDER BY position"),
            {"id": prediction_id},
        ).all()
    engine.dispose()
    return int(logged or 0), [tuple(row) for row in newest] == [tuple(row) for row in current]


def run(url: str, args, folder: Path) -> dict:
    tokens = [reviewer_token(url) for _ in range(2)]  # two reviewers (migrates the database)
    log = open(folder / f"gunicorn-{free_port()}.log", "w")  # noqa: SIM115
    server, base = serve(url, args.workers, args.models_dir, log)
    try:
        status, created, _ = call("POST", base + "/api/v1/suggest", {"title": "How do I join two tables in SQL?"})
        if status != 201:
            raise SystemExit(f"asking failed: {status} {created}")
        prediction_id = created["id"]
        tags = sorted({tag["tag"] for answer in created["answers"].values() for tag in answer["tags"]})
        feedback = f"{base}/api/v1/predictions/{prediction_id}/feedback"
        start = threading.Barrier(args.requests)
        results: list[tuple[int, float]] = []

        def review(number: int) -> None:
            payload = {"accepted": tags[: number % (len(tags) + 1)], "added": [f"tag-{number}"]}
            start.wait()
            status, _, ms = call("POST", feedback, payload, tokens[number % 2])
            results.append((status, ms))

        threads = [threading.Thread(target=review, args=(number,)) for number in range(args.requests)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    finally:
        stop_server(server, log)
    logged, current_is_newest = stored_state(url, prediction_id)
    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    latencies = [ms for _, ms in results]
    return {
        "statuses": statuses,
        "wall_s": wall,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "logged": logged,
        "current_is_newest": current_is_newest,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    print(stamp(), flush=True)
    from tests.helpers.postgres import Cluster, Unavailable

    with tempfile.TemporaryDirectory(prefix="tagsmith-reviews-") as name:
        folder = Path(name)
        backends = {"sqlite": f"sqlite:///{folder / 'reviews.sqlite3'}"}
        cluster = None
        try:
            cluster = Cluster.start()
            backends["postgresql"] = cluster.create_database()
        except Unavailable as error:
            print(f"postgresql: skipped ({error})", file=sys.stderr)
        try:
            print(f"{args.requests} concurrent reviews of one question by 2 reviewers, gunicorn {args.workers} workers")
            print("backend | statuses | wall | p50 / p95 | in the log | current = newest")
            for backend, url in backends.items():
                result = run(url, args, folder)
                print(
                    f"{backend} | {result['statuses']} | {result['wall_s']:.1f} s | "
                    f"{result['p50_ms']:.0f} / {result['p95_ms']:.0f} ms | {result['logged']} | "
                    f"{result['current_is_newest']}"
                )
        finally:
            if cluster is not None:
                cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
