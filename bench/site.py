"""Throughput and latency of the served site's ask endpoint, baseline and transformer.

Starts gunicorn itself (gunicorn.conf.py, 2 workers, a throwaway SQLite database, the models in models/) on
a free loopback port, warms each worker up, then sends a fixed number of questions to
POST /api/v1/suggest, one question per request, a few at a time, once per model. Prints
requests per second and client-side p50/p95 latency side by side, plus the time the model
itself took (as the site records it). Stops the server whatever happens. Talks only to
127.0.0.1.

    .venv/bin/python bench/site.py [--requests 200] [--concurrency 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ml.registry import model_names  # noqa: E402

BODIES = ROOT / "data" / "so_questions_with_bodies_sample.csv"
TITLES = ROOT / "data" / "so_titles_100tags.csv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_questions(limit: int) -> list[dict]:
    """Real questions: with their HTML bodies when the sample file is there, else titles."""
    questions = []
    source = BODIES if BODIES.is_file() else TITLES
    csv.field_size_limit(10_000_000)
    with open(source, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            title = (row.get("title") or row.get("Title") or "").strip()
            body = (row.get("body") or row.get("Body") or "")[:50_000]
            if len(title) >= 3:
                questions.append({"title": title[:300], "body": body})
            if len(questions) >= limit:
                break
    if not questions:
        raise SystemExit(f"no questions in {source}")
    return questions


def post(url: str, payload: dict, timeout: float = 60) -> tuple[int, dict, float]:
    data = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
            status = response.status
    except urllib.error.HTTPError as error:
        body, status = json.loads(error.read() or b"{}"), error.code
    return status, body, (time.perf_counter() - started) * 1000.0


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: a latency that was actually observed (nan for no values)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else float("nan")


def start_server(
    workers: int,
    models_dir: Path,
    database: Path,
    ort_threads: int,
    log,
    rate_limits: bool = False,
    gunicorn_args: Sequence[str] = ("--timeout", "120"),
) -> tuple[subprocess.Popen, str]:
    """gunicorn with the repository's gunicorn.conf.py (it starts in the repository root),
    ``workers`` workers and ``gunicorn_args`` on top."""
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{database}",
        TAGSMITH_MODELS_DIR=str(models_dir),
        SECRET_KEY="bench",
        TAGSMITH_ORT_THREADS=str(ort_threads),
        # By default one client sends every request: the per-client limits would measure themselves.
        TAGSMITH_RATE_LIMITS="1" if rate_limits else "0",
    )
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        [
            str(gunicorn),
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            *gunicorn_args,
            "webapp:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return server, base
        except OSError:
            pass
        time.sleep(0.25)
    server.terminate()
    raise SystemExit(f"gunicorn did not answer /healthz within 180 s; see {log.name}")


def stop_server(server: subprocess.Popen, log, grace: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; closes the server's log."""
    server.terminate()
    try:
        server.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    log.close()


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


def reviewer_token(url: str) -> str:
    """An API token of a new reviewer on the database at ``url``: reviewing and exporting are
    for reviewers only (the site takes the token on its pages too)."""
    import secrets

    from webapp import create_app
    from webapp.auth import new_token
    from webapp.extensions import db
    from webapp.reviewer_cli import create_reviewer

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PRELOAD_MODELS": False, "SECRET_KEY": "bench"})
    with app.app_context():
        token = new_token(create_reviewer(f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(16)))
        db.engine.dispose()
    return token
