"""A 10,000-question batch file through the real site, and what it costs ordinary asks.

Starts gunicorn (bench/site.py's start_server: gunicorn.conf.py, 2 workers, a throwaway
SQLite database, the models in models/), then:

1. alone: ordinary asks (POST /api/v1/suggest, one real question each, the default model),
   a few in flight, for --asks requests: throughput and client-side p50/p95;
2. with a batch: uploads --rows real questions (titles and bodies from
   data/so_questions_open.jsonl) as one JSONL file to POST /api/v1/batches, and sends the
   same ordinary asks while the background job runs, polling its progress, until it is done:
   the batch's time to finish and the asks' figures meanwhile.

Talks only to 127.0.0.1; stops the server whatever happens.

    .venv/bin/python -m bench.batch [--rows 10000] [--asks 200] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.harness import percentile, post, stamp, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent

SOURCES = [ROOT / "data" / "so_questions_open.jsonl", ROOT.parent / "shared" / "data" / "so_questions_open.jsonl"]


def real_questions(limit: int) -> list[dict]:
    source = next((path for path in SOURCES if path.is_file()), None)
    if source is None:
        raise SystemExit(f"none of {', '.join(map(str, SOURCES))} is there")
    questions = []
    with source.open(encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            title = " ".join(item["title"].split())[:300]
            if len(title) >= 3:
                questions.append({"title": title, "body": item.get("body", "")[:50_000]})
            if len(questions) == limit:
                break
    if len(questions) < limit:
        raise SystemExit(f"{source} has only {len(questions)} questions")
    return questions


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def asks(base: str, questions: list[dict], count: int, concurrency: int, until=None) -> dict:
    """``count`` asks (or, with ``until``, asks until it says stop), ``concurrency`` at a time."""
    url = base + "/api/v1/suggest"
    latencies: list[float] = []
    failed = 0
    lock = threading.Lock()
    sent = iter(range(10**9))

    def client() -> None:
        nonlocal failed
        for number in sent:
            if (until is None and number >= count) or (until is not None and until()):
                return
            status, _, elapsed = post(url, questions[number % len(questions)])
            with lock:
                if status == 201:
                    latencies.append(elapsed)
                else:
                    failed += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(client)
    wall = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "failed": failed,
        "rps": len(latencies) / wall,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
    }


def run_batch(base: str, rows: list[dict], ask_questions: list[dict], concurrency: int) -> tuple[dict, dict]:
    data = ("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n").encode()
    request = urllib.request.Request(
        base + "/api/v1/batches?filename=bench.jsonl", data=data, headers={"Content-Type": "application/x-ndjson"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 202, response.status
        location = base + response.headers["Location"]
    uploaded = time.perf_counter() - started
    job: dict = {}
    finished = threading.Event()

    def watch() -> None:
        nonlocal job
        while True:
            job = get(location)
            if job["finished_at"]:
                finished.set()
                return
            print(f"  {job['status']}: {job['done']:,} of {job['total']:,}", file=sys.stderr, flush=True)
            time.sleep(5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    during = asks(base, ask_questions, 0, concurrency, until=finished.is_set)
    watcher.join()
    total = time.perf_counter() - started
    results = urllib.request.urlopen(base + job["results"], timeout=300).read()
    lines = results.decode().splitlines()
    tagged = sum(1 for line in lines if json.loads(line)["tags"])
    return {
        "status": job["status"],
        "rows": job["total"],
        "done": job["done"],
        "upload_s": uploaded,
        "total_s": total,
        "per_s": job["done"] / total,
        "bytes": len(data),
        "tagged": tagged,
    }, during


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="questions in the batch file (default: %(default)s)")
    parser.add_argument("--asks", type=int, default=200, help="ordinary asks measured alone (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=2, help="asks in flight at once (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default: %(default)s)")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    print(stamp(), flush=True)

    questions = real_questions(args.rows + 500)
    batch_rows, ask_questions = questions[: args.rows], questions[args.rows :]
    with tempfile.TemporaryDirectory(prefix="tagsmith-bench-batch-") as folder:
        log = open(Path(folder) / "gunicorn.log", "w")  # noqa: SIM115  (open while the server runs)
        server, base = start_server(args.workers, args.models_dir, Path(folder) / "bench.sqlite3", 1, log)
        try:
            asks(base, ask_questions, 20, args.concurrency)  # warm-up
            alone = asks(base, ask_questions, args.asks, args.concurrency)
            batch, during = run_batch(base, batch_rows, ask_questions, args.concurrency)
        finally:
            stop_server(server, log)

    settings = {name: os.environ.get(name) for name in os.environ if name.startswith("TAGSMITH_BATCH")}
    print(
        f"Batch of {batch['rows']:,} real questions ({batch['bytes'] / 1e6:.1f} MB JSONL) through gunicorn "
        f"{args.workers} workers, {os.cpu_count()} CPUs; asks {args.concurrency} in flight; "
        f"settings {settings or 'default'}"
    )
    print(
        f"batch: {batch['status']}, {batch['done']:,} tagged ({batch['tagged']:,} with tags in the results) in "
        f"{batch['total_s']:.1f} s = {batch['per_s']:.1f} questions/s (upload and parse {batch['upload_s']:.2f} s)"
    )
    header = f"{'ordinary asks':<16} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'requests':>9} {'failed':>7}"
    print(header)
    print("-" * len(header))
    for name, row in (("alone", alone), ("during batch", during)):
        figures = f"{row['rps']:>7.1f} {row['p50']:>8.1f} {row['p95']:>8.1f}"
        print(f"{name:<16} {figures} {row['requests']:>9} {row['failed']:>7}")
    return 0 if batch["status"] == "done" and not alone["failed"] and not during["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
