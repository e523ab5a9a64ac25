"""Ordinary questions alone, then beside slow clients and heavy batches (issue 11).

Starts gunicorn as bench/site.py does (the repository's gunicorn.conf.py, 2 workers, the
models in --models-dir, a throwaway SQLite database) on a free loopback port, with the rate
limits ON at their defaults. Then two phases of --seconds each:

1. alone: ordinary clients ask one real question per request (title and HTML body), a few
   in flight, as fast as the site answers;
2. under abuse: the same, while --slow clients (32) send a request one byte a second (half
   of them their headers, half their body) and 2 heavy clients loop 32-question batches of
   50,000-character bodies as fast as they can, ignoring Retry-After (the rate limits answer
   most of those with 429, and a refusal repeated within its window a second late). A prober
   asks /healthz/live once a second (2 s timeout), as a platform's liveness check does.

Last, the amplifying batch file of issue 23 (a million empty columns): its answer and how much
the database grew. Prints req/s and p50/p95 of the ordinary questions in both phases, the share kept (the issue's
target: >= 80% of the throughput, p95 <= 200 ms), the liveness probes answered, what the
heavy clients got and one of each 429 message. The rate limits count per address, so each
client has its own loopback address (127.0.0.0/8 all reaches this machine); the ordinary
questions come from many addresses, as from many people. Abusers run in their own
processes, so their Python does not slow the ordinary clients' own. Every loop is bounded in
time and count; the server is stopped whatever happens. Talks only to 127.0.0.0/8.

    .venv/bin/python -m bench.abuse [--seconds 30] [--concurrency 4] [--models-dir models]
    .venv/bin/python -m bench.abuse --worker-class sync   # gunicorn's default worker: before
    .venv/bin/python -m bench.abuse --threads 8 --slow 32  # the threads before issue 23
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness import TITLES, load_questions, percentile, stamp, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent

SUGGEST = "/api/v1/suggest"
HEAVY_ADDRESSES = ("127.0.4.1", "127.0.4.2")
BATCH, BODY_CHARS = 32, 50_000
MAX_REQUESTS = 200_000  # per phase or client: a bound on every loop besides its deadline


def ordinary_address(number: int) -> str:
    """Address of the ordinary request ``number``: 16,384 of them, so none nears a limit."""
    number %= 64 * 256
    return f"127.1.{number // 256}.{number % 256 or 1}"


def post(port: int, source: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        connection.request("POST", SUGGEST, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def ordinary_phase(port: int, payloads: list[bytes], seconds: float, concurrency: int, timeout: float) -> dict:
    """``concurrency`` clients, each asking one question after another until the deadline."""
    lock = threading.Lock()
    counter = iter(range(MAX_REQUESTS))
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                number = next(counter, None)
            if number is None:
                return
            started = time.perf_counter()
            try:
                status, _ = post(port, ordinary_address(number), payloads[number % len(payloads)], timeout)
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    statuses[type(error).__name__] += 1
                continue
            elapsed = (time.perf_counter() - started) * 1000.0
            with lock:
                statuses[str(status)] += 1
                if status == 201:
                    latencies.append(elapsed)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + timeout + 5)
    wall = time.perf_counter() - started
    return {
        "answered": len(latencies),
        "rps": len(latencies) / wall,
        "p50": percentile(latencies, 50) if latencies else float("nan"),
        "p95": percentile(latencies, 95) if latencies else float("nan"),
        "statuses": dict(statuses),
    }


def heavy_client(port: int, source: str, body: bytes, seconds: float, results: Any) -> None:
    """Posts one batch after another, as fast as the site answers, ignoring Retry-After. A new
    connection each time: the server answers 429 before reading a batch, then closes."""
    statuses: Counter[str] = Counter()
    messages: dict[str, str] = {}
    deadline = time.monotonic() + seconds
    for _ in range(MAX_REQUESTS):
        if time.monotonic() >= deadline:
            break
        try:
            status, answer = post(port, source, body, timeout=60)
        except (OSError, http.client.HTTPException) as error:
            statuses[type(error).__name__] += 1
            continue
        statuses[str(status)] += 1
        if status == 429:
            message = json.loads(answer).get("error", "")
            messages.setdefault(message.split(":")[0], message)
    results.put(
        {"client": f"heavy {source}", "statuses": dict(statuses), "messages": messages, "cpu": time.process_time()}
    )


def slow_addresses(n: int) -> list[str]:
    return [f"127.0.3.{k + 1}" for k in range(n)]


def slow_clients(port: int, request: bytes, seconds: float, results: Any, n: int = 2) -> None:
    """``n`` clients: the even ones send ``request`` one byte a second from the start; the odd
    ones send the headers at once and then the body one byte a second. None finishes in
    ``seconds``."""
    head, _, body = request.partition(b"\r\n\r\n")
    addresses = slow_addresses(n)
    plans = [request if k % 2 == 0 else body for k in range(n)]
    sockets = []
    for source in addresses:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
        sockets.append(sock)
    for k in range(1, n, 2):
        sockets[k].sendall(head + b"\r\n\r\n")
    sent = [0] * n
    closed = [False] * n
    deadline = time.monotonic() + seconds
    try:
        for _ in range(int(seconds) + 1):
            if time.monotonic() >= deadline:
                break
            for i, sock in enumerate(sockets):
                if closed[i] or sent[i] >= len(plans[i]):
                    continue
                try:
                    sock.sendall(plans[i][sent[i] : sent[i] + 1])
                    sent[i] += 1
                except OSError:
                    closed[i] = True
            time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
    finally:
        for sock in sockets:
            sock.close()
    results.put(
        {
            "client": f"{n} slow clients",
            "statuses": {"bytes sent": sum(sent), "closed by the server": sum(closed)},
            "messages": {},
            "cpu": time.process_time(),
        }
    )


def liveness_prober(port: int, seconds: float, results: Any) -> None:
    """GET /healthz/live once a second with a 2 s timeout, as a platform's liveness check."""
    answered, probes = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        probes += 1
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/healthz/live")
            answered += int(connection.getresponse().status == 200)
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    results.put({"client": "liveness", "statuses": {"probes": probes, "answered": answered}, "messages": {}, "cpu": 0})


def question_payloads(questions: list[dict], model: str | None) -> list[bytes]:
    extra = {"models": [model]} if model else {}
    return [json.dumps({**question, **extra}).encode() for question in questions]


def heavy_batch() -> bytes:
    """32 questions whose bodies are 50,000 characters of real titles (the body limit): ~1.6 MB."""
    with open(TITLES, encoding="utf-8") as handle:
        text = " ".join(line.split(",")[0] for line in handle.read(2_000_000).splitlines()[1:])
    text = "".join(char for char in text if char.isascii() and char.isprintable() and char not in '"\\')
    body = (text * (BODY_CHARS // max(1, len(text)) + 1))[:BODY_CHARS]
    questions = [{"title": f"Heavy batch question number {i}", "body": body} for i in range(BATCH)]
    return json.dumps({"questions": questions}).encode()


def slow_request(port: int) -> bytes:
    body = json.dumps({"title": "How do I read a file line by line in Python?"}).encode()
    return (
        f"POST {SUGGEST} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def under_abuse(port: int, payloads: list[bytes], args: argparse.Namespace) -> tuple[dict, list[dict]]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    batch = heavy_batch()
    lead = 3.0  # abusers start first, so the phase measures them in full swing
    span = args.seconds + lead + 2
    abusers = [
        context.Process(target=slow_clients, args=(args.port, slow_request(args.port), span, results, args.slow)),
        context.Process(target=liveness_prober, args=(args.port, args.seconds + lead, results)),
    ]
    abusers += [
        context.Process(target=heavy_client, args=(args.port, source, batch, span, results))
        for source in HEAVY_ADDRESSES
    ]
    for process in abusers:
        process.start()
    try:
        time.sleep(lead)
        row = ordinary_phase(args.port, payloads, args.seconds, args.concurrency, args.timeout)
        reports = [results.get(timeout=span + 90) for _ in range(2 + len(HEAVY_ADDRESSES))]
    finally:
        for process in abusers:
            process.join(span + 90)
            if process.is_alive():
                process.terminate()
                process.join()
    return row, reports


def amplifying_file(port: int, database: Path) -> dict:
    """The batch file of issue 23: a 1 MB CSV whose header has a million empty columns, then
    100 short rows. Before the fix it was accepted and every row padded to the header's width
    and stored (the README's benchmarks say how much). Now: the answer, its time, and how
    much the database grew."""
    body = b"title" + b"," * 1_000_000 + b"\n" + b"".join(b"django pip question %d\n" % n for n in range(100))

    def size() -> int:
        return sum(path.stat().st_size for path in database.parent.glob(database.name + "*"))

    before = size()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=("127.0.5.1", 0))
    started = time.perf_counter()
    try:
        connection.request("POST", "/api/v1/batches", body=body, headers={"Content-Type": "text/csv"})
        response = connection.getresponse()
        status, answer = response.status, response.read()
    finally:
        connection.close()
    return {
        "status": status,
        "seconds": time.perf_counter() - started,
        "grew_mb": (size() - before) / 1e6,
        "message": json.loads(answer).get("detail", "") if status >= 400 else "",
    }


def served_statuses(log_text: str, slow: int) -> dict[str, Counter[str]]:
    """What the server answered each abuser, from the access log (address first, status after
    the quoted request line): a client may not read an answer the server did send."""
    answered: dict[str, Counter[str]] = {}
    for line in log_text.splitlines():
        address = line.split(" ", 1)[0]
        if address in (*HEAVY_ADDRESSES, *slow_addresses(slow)) and '" ' in line:
            status = line.split('" ', 1)[1].split(" ", 1)[0]
            answered.setdefault(address, Counter())[status] += 1
    return answered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30, help="length of each phase (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=4, help="ordinary requests in flight (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=10, help="ordinary request timeout, s (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default: %(default)s)")
    parser.add_argument(
        "--model", default="", help="the model ordinary questions ask for (default: the site's default, the ensemble)"
    )
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models", help="default: models/")
    parser.add_argument(
        "--worker-class", default="", help="override gunicorn.conf.py's worker class (sync: gunicorn's default)"
    )
    parser.add_argument("--threads", type=int, default=0, help="override gunicorn.conf.py's threads per worker")
    parser.add_argument("--slow", type=int, default=32, help="slow clients, a byte a second (default: %(default)s)")
    args = parser.parse_args()
    print(stamp(), flush=True)
    if not 1 <= args.seconds <= 120 or args.concurrency < 1 or args.workers < 1:
        parser.error("--seconds must be 1..120, --concurrency and --workers at least 1")

    questions = load_questions(200)
    payloads = question_payloads(questions, args.model or None)
    gunicorn_args = ["--timeout", "30"]
    if args.worker_class:
        gunicorn_args += ["--worker-class", args.worker_class]
        if args.worker_class == "sync" and not args.threads:
            args.threads = 1  # gunicorn turns sync into gthread when there are more threads
    if args.threads:
        gunicorn_args += ["--threads", str(args.threads)]
    with tempfile.TemporaryDirectory(prefix="tagsmith-abuse-") as folder:
        log_path = Path(folder) / "gunicorn.log"
        log = open(log_path, "w")  # noqa: SIM115  (open while the server runs)
        server, base = start_server(
            args.workers, args.models_dir, Path(folder) / "bench.sqlite3", 1, log, True, gunicorn_args
        )
        args.port = int(base.rsplit(":", 1)[1])
        try:
            warm = ordinary_phase(args.port, payloads, min(5.0, args.seconds), args.concurrency, args.timeout)
            if not warm["answered"]:
                raise SystemExit(f"no ordinary question was answered while warming up: {warm['statuses']}")
            alone = ordinary_phase(args.port, payloads, args.seconds, args.concurrency, args.timeout)
            abused, reports = under_abuse(args.port, payloads, args)
            amplified = amplifying_file(args.port, Path(folder) / "bench.sqlite3")
        finally:
            stop_server(server, log, grace=30)
        log_text = log_path.read_text(errors="replace")
    killed = log_text.count("WORKER TIMEOUT")
    answered = served_statuses(log_text, args.slow)

    worker = args.worker_class or "gthread (gunicorn.conf.py)"
    print(
        f"POST {SUGGEST}, one question per request ({args.model or 'the default model'}, titles and HTML bodies), "
        f"{args.concurrency} in flight, {args.seconds:g} s a phase; gunicorn {args.workers} workers, {worker}"
        f"{f', {args.threads} threads' if args.threads else ''}; rate limits on; {os.cpu_count()} CPUs, "
        "clients on the same machine"
    )
    header = f"{'ordinary questions':<34} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}  other answers"
    print(header)
    print("-" * len(header))
    for label, row in (("alone", alone), (f"{args.slow} slow + 2 heavy-batch clients", abused)):
        others = {key: value for key, value in row["statuses"].items() if key != "201"}
        print(f"{label:<34} {row['rps']:>8.1f} {row['p50']:>8.1f} {row['p95']:>8.1f}  {others or '-'}")
    kept = abused["rps"] / alone["rps"] if alone["rps"] else 0.0
    live = next(report["statuses"] for report in reports if report["client"] == "liveness")
    met = kept >= 0.8 and abused["p95"] <= 200 and live["answered"] == live["probes"]
    print(
        f"kept {kept:.0%} of the throughput, p95 {abused['p95']:.0f} ms under abuse "
        f"(target >= 80%, <= 200 ms); liveness probes answered {live['answered']} of {live['probes']}: "
        f"{'met' if met else 'NOT met'}; workers killed (WORKER TIMEOUT): {killed}"
    )
    for report in sorted(reports, key=lambda report: report["client"]):
        if report["client"] == "liveness":
            continue
        if report["client"].endswith("slow clients"):
            served = sum((answered.get(address, Counter()) for address in slow_addresses(args.slow)), Counter())
        else:
            served = answered.get(report["client"].split()[-1], Counter())
        print(
            f"{report['client']}: server answered {dict(served) or 'nothing'}; "
            f"client saw {report['statuses']}; client CPU {report['cpu']:.1f} s"
        )
        for message in report["messages"].values():
            print(f"    429: {message}")
    print(
        f"a 1 MB CSV of a million empty columns and 100 rows: {amplified['status']} in "
        f"{amplified['seconds']:.2f} s, database grew {amplified['grew_mb']:.2f} MB; {amplified['message']}"
    )
    refused = 400 <= amplified["status"] < 500
    return 0 if met and not killed and refused else 1


if __name__ == "__main__":
    sys.exit(main())
