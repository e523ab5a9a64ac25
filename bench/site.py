"""Throughput and latency of the served site's ask endpoint, baseline and transformer.

Starts gunicorn itself (gunicorn.conf.py, 2 workers, a throwaway SQLite database, the models in models/) on
a free loopback port, warms each worker up, then sends a fixed number of questions to
POST /api/v1/suggest, one question per request, a few at a time, once per model. Prints
requests per second and client-side p50/p95 latency side by side, plus the time the model
itself took (as the site records it). Stops the server whatever happens. Talks only to
127.0.0.1.

    .venv/bin/python -m bench.site [--requests 200] [--concurrency 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.harness import BODIES, ROOT, load_questions, percentile, post, stamp, start_server, stop_server
from ml.registry import model_names


def run_model(base: str, model: str, questions: list[dict], requests: int, concurrency: int, warmup: int) -> dict:
    url = base + "/api/v1/suggest"
    status, body, _ = post(url, {**questions[0], "models": [model]})
    if status == 503:
        return {"model": model, "unavailable": body.get("fields", {}).get(model) or body.get("error", "")}
    if status != 201:
        raise SystemExit(f"{model}: unexpected {status}: {body}")
    payloads = [{**questions[i % len(questions)], "models": [model]} for i in range(requests + warmup)]
    with ThreadPoolExecutor(concurrency) as pool:  # warm-up reaches every worker
        list(pool.map(lambda payload: post(url, payload), payloads[:warmup]))
        started = time.perf_counter()
        results = list(pool.map(lambda payload: post(url, payload), payloads[warmup:]))
        wall = time.perf_counter() - started
    failed = [status for status, _, _ in results if status != 201]
    latencies = [elapsed for status, _, elapsed in results if status == 201]
    model_ms = [body["answers"][model]["latency_ms"] for status, body, _ in results if status == 201]
    return {
        "model": model,
        "requests": len(results),
        "failed": len(failed),
        "rps": len(results) / wall,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "model_p50": statistics.median(model_ms) if model_ms else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per model (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at once (default: %(default)s)")
    parser.add_argument(
        "--warmup", type=int, default=20, help="unmeasured requests first, per model (default: %(default)s)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default: %(default)s)")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=ROOT / "models",
        help="folder with baseline/ and transformer/ (default: models/)",
    )
    parser.add_argument(
        "--ort-threads",
        type=int,
        default=1,
        help="onnxruntime threads per worker (default: %(default)s: workers share the cores)",
    )
    args = parser.parse_args()
    print(stamp(), flush=True)
    for name in ("requests", "concurrency", "workers", "ort_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    questions = load_questions(max(args.requests, 50))
    with tempfile.TemporaryDirectory(prefix="tagsmith-bench-") as folder:
        log = open(Path(folder) / "gunicorn.log", "w")  # noqa: SIM115  (open while the server runs)
        server, base = start_server(
            args.workers, args.models_dir, Path(folder) / "bench.sqlite3", args.ort_threads, log
        )
        try:
            rows = [
                run_model(base, model, questions, args.requests, args.concurrency, args.warmup)
                for model in model_names()
            ]
        finally:
            stop_server(server, log)

    print(
        f"POST /api/v1/suggest, one question per request "
        f"({'titles and HTML bodies' if BODIES.is_file() else 'titles'}), gunicorn {args.workers} workers, "
        f"{args.requests} requests per model, {args.concurrency} in flight, {os.cpu_count()} CPUs"
    )
    header = f"{'model':<12} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'model p50 ms':>13} {'failed':>7}"
    print(header)
    print("-" * len(header))
    for row in rows:
        if "unavailable" in row:
            print(f"{row['model']:<12} unavailable: {row['unavailable']}")
        else:
            print(
                f"{row['model']:<12} {row['rps']:>8.1f} {row['p50']:>8.1f} {row['p95']:>8.1f} "
                f"{row['model_p50']:>13.1f} {row['failed']:>7}"
            )
    return 0 if all(row.get("failed", 0) == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
