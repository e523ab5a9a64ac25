"""What every bench script shares: the stamp that heads its output (date, machine, commit),
real questions to send, a gunicorn server started with the project's own settings,
percentiles and memory readings."""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ml.text import question_text

ROOT = Path(__file__).resolve().parent.parent
BODIES = ROOT / "data" / "so_questions_with_bodies_sample.csv"
TITLES = ROOT / "data" / "so_titles_100tags.csv"


def stamp() -> str:
    """When, where and on which code a figure was measured: the line every table starts with,
    so a figure copied to the benchmarks page carries it along."""
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown commit"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"# {when} · {os.cpu_count()} cores, {cpu} · Python {platform.python_version()} · {commit}"


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
    database: Path | str,
    ort_threads: int,
    log,
    rate_limits: bool = False,
    gunicorn_args: Sequence[str] = ("--timeout", "120"),
) -> tuple[subprocess.Popen, str]:
    """gunicorn with the repository's gunicorn.conf.py (it starts in the repository root),
    ``workers`` workers and ``gunicorn_args`` on top; ``database`` is a SQLite file or any
    database URL."""
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=database if isinstance(database, str) else f"sqlite:///{database}",
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


def reviewer_token(url: str) -> str:
    """An API token of a new reviewer on the database at ``url``: reviewing and exporting are
    for reviewers only (the site takes the token on its pages too)."""
    import secrets

    from webapp import create_app
    from webapp.auth.cli import create_reviewer
    from webapp.auth.login import new_token
    from webapp.core.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PRELOAD_MODELS": False, "SECRET_KEY": "bench"})
    with app.app_context():
        token = new_token(create_reviewer(f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(16)))
        db.engine.dispose()
    return token


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_at_a_time(predictor, questions: list[tuple[str, str]]) -> np.ndarray:
    for title, body in questions[:20]:  # warm-up: first calls allocate
        predictor.predict([question_text(title, body)])
    times = []
    for title, body in questions:
        started = time.perf_counter()
        predictor.predict([question_text(title, body)])
        times.append((time.perf_counter() - started) * 1000)
    return np.array(times)
