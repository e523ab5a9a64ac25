"""The site under gunicorn with two workers (the repository's gunicorn.conf.py): concurrent
writes to one SQLite file or one PostgreSQL database, oversized uploads, and clients sending
one byte a second."""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ml.registry import model_names
from tests.helpers.support import BACKENDS, Databases

pytestmark = pytest.mark.slow  # a real gunicorn server


ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
REQUESTS, THREADS = 40, 8
# The heartbeat timeout the test server runs with, and how long the slow clients trickle: a
# worker that a slow client holds past the timeout is killed ("WORKER TIMEOUT").
WORKER_TIMEOUT, SLOW_SECONDS = 10, 12


def stop(server: subprocess.Popen) -> None:
    """Stop gunicorn as its deployments do (SIGTERM: the workers finish their requests), and
    kill it if it has not stopped within 15 s."""
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url, payload=None, timeout=30):
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, trained_models, tmp_path_factory):
    """One server per back-end for the module: starting two workers costs seconds. Both
    workers start at once on an empty database, so they race to create the tables."""
    if not GUNICORN.exists():
        pytest.skip(f"gunicorn is not installed at {GUNICORN}")
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    databases = Databases(request, request.param, tmp_path)
    database = databases(empty=True)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TAGSMITH_")}
    env.update(
        DATABASE_URL=database,
        TAGSMITH_MODELS_DIR=str(trained_models / "models"),
        SECRET_KEY="gunicorn-test",
        # Every request comes from 127.0.0.1: a 2 MB upload must meet the size cap, not the
        # client's budget of question text (tests/webapp/test_hardening.py tests that one).
        TAGSMITH_TEXT_LIMIT="100000000 per minute",
    )
    log = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115  (the server writes to it until the test ends)
    server = subprocess.Popen(
        [
            str(GUNICORN),
            # What make run, the Procfile and render.yaml use; only the timeouts are shorter.
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            str(WORKER_TIMEOUT),
            "--graceful-timeout",
            "5",
            "webapp:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if call(base + "/healthz/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"gunicorn did not come up:\n{log.read()[-3000:]}")
            time.sleep(0.2)
        yield base, database, log
    finally:
        stop(server)
        log.close()
        databases.close()


def test_pages_and_errors_through_gunicorn(served):
    base, _, _ = served
    status, body = call(base + "/")
    assert status == 200 and b'name="csrf_token"' in body
    status, body = call(base + "/history/424242")
    assert status == 404 and b"no question #424242" in body
    status, body = call(base + "/api/v1/suggest", {"title": ""})  # refused: stores nothing
    assert status == 422 and json.loads(body)["fields"]["title"]
    health = {
        "status": "ok",
        "database": "ok",
        "models": {name: "loaded" if name == "baseline" else "unavailable" for name in model_names()},
    }
    for url in ("/healthz", "/healthz/ready"):
        status, body = call(base + url)
        assert status == 200 and json.loads(body) == health
    assert call(base + "/healthz/live") == (200, b'{"status":"ok"}\n')


def test_two_workers_lose_no_rows_under_concurrent_posts(served):
    base, database, log = served

    def post(number):
        status, body = call(base + "/api/v1/suggest", {"title": f"concurrent question {number} about django pip"})
        return status, json.loads(body)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(post, range(REQUESTS)))
    assert [status for status, _ in results] == [201] * REQUESTS, [body for status, body in results if status != 201][
        :3
    ]
    ids = {body["id"] for _, body in results}
    assert len(ids) == REQUESTS

    status, body = call(base + "/api/v1/predictions?per_page=100")
    listing = json.loads(body)
    assert status == 200 and listing["total"] == REQUESTS
    assert {item["id"] for item in listing["items"]} == ids
    engine = create_engine(database)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM predictions")).scalar() == REQUESTS
        assert connection.execute(text("SELECT COUNT(*) FROM model_answers")).scalar() == REQUESTS
        assert (
            connection.execute(
                text(
                    "SELECT COUNT(*) FROM predictions p WHERE NOT EXISTS (SELECT 1 FROM suggested_tags s "
                    "JOIN model_answers a ON a.id = s.answer_id WHERE a.prediction_id = p.id)"
                )
            ).scalar()
            == 0
        )
        if engine.dialect.name == "sqlite":
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()

    # Each of the two workers loaded the baseline exactly once, at boot, not per request.
    log.seek(0)
    loaded = [line for line in log.read().splitlines() if "loaded the baseline model" in line]
    assert len(loaded) == 2, loaded


def post_chunked(base: str, body: bytes) -> tuple[int, bytes]:
    """POST with Transfer-Encoding: chunked and no Content-Length, 64 kB a chunk."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        chunks = (body[start : start + 65536] for start in range(0, len(body), 65536))
        connection.request(
            "POST", "/api/v1/suggest", body=chunks, headers={"Content-Type": "application/json"}, encode_chunked=True
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_chunked_upload_over_the_cap_is_refused_whole(served):
    base, database, _ = served
    engine = create_engine(database)
    with engine.connect() as connection:
        before = connection.execute(text("SELECT COUNT(*) FROM predictions")).scalar()
    status, body = post_chunked(base, json.dumps({"title": "chunked question about django pip"}).encode())
    assert status == 201, body[:300]
    # Cut at the 2 MiB cap this is still valid JSON: the stream gunicorn hands over used to be
    # read up to the cap and parsed as if that were all of it.
    cap = 2 * 1024 * 1024
    head = b'{"title": "chunked question about django pip", "body": "' + b"x" * (cap - 100) + b'"}'
    status, body = post_chunked(base, head + b" " * 10_000)
    assert status == 413 and b"larger than the 2.0 MB" in body, body[:300]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM predictions")).scalar() == before + 1
    engine.dispose()


def call_from(base: str, source: str, path: str, payload=None, timeout: float = 5) -> tuple[int, bytes, float]:
    """A request from the loopback address ``source`` (the rate limits count per address):
    status, body and seconds taken."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout, source_address=(source, 0))
    started = time.monotonic()
    try:
        if payload is None:
            connection.request("GET", path)
        else:
            connection.request("POST", path, body=json.dumps(payload), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read(), time.monotonic() - started
    finally:
        connection.close()


def test_clients_sending_a_byte_a_second_neither_hold_up_the_site_nor_get_workers_killed(served):
    """Two sync workers, each held by one such client, answered no one and were killed at the
    timeout. Four slow clients here: two send their headers a byte a second, two their body."""
    base, _, log = served
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({"title": "slow question about django pip"}).encode()
    head = (
        f"POST /api/v1/suggest HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    plans = [head + body, head + body, body, body]
    sent = [0] * len(plans)
    stop = threading.Event()
    sockets: list[socket.socket] = []

    def trickle() -> None:
        for _ in range(SLOW_SECONDS + 5):  # bounded even if stop never comes
            for i, sock in enumerate(sockets):
                if sent[i] < len(plans[i]) - 1:  # the last byte waits: the requests stay unfinished
                    sock.sendall(plans[i][sent[i] : sent[i] + 1])
                    sent[i] += 1
            if stop.wait(1.0):
                return

    try:
        for i in range(len(plans)):
            sockets.append(
                socket.create_connection((host, int(port)), timeout=10, source_address=(f"127.0.5.{i + 1}", 0))
            )
        sockets[2].sendall(head)
        sockets[3].sendall(head)
        slow = threading.Thread(target=trickle, daemon=True)
        slow.start()

        timings = []
        started, number = time.monotonic(), 0
        while time.monotonic() - started < SLOW_SECONDS:
            status, _, took = call_from(base, "127.0.6.1", "/healthz")
            timings.append(("GET /healthz", status, took))
            question = {"title": f"prompt question {number} about spring maven"}
            status, _, took = call_from(base, f"127.0.6.{number % 200 + 2}", "/api/v1/suggest", question)
            timings.append(("POST /api/v1/suggest", status, took))
            number += 1
            time.sleep(0.3)
        stop.set()
        slow.join(5)
        assert not slow.is_alive()
        assert all(sent[i] >= SLOW_SECONDS - 2 for i in range(len(plans))), sent  # they really were trickling
        late = [
            (what, status, round(took, 2)) for what, status, took in timings if status not in (200, 201) or took > 2
        ]
        assert not late, late
        assert len(timings) >= 2 * (SLOW_SECONDS // 2)

        # Still unfinished after 12 s, each slow request is answered once its last bytes come.
        for i, sock in enumerate(sockets):
            sock.sendall(plans[i][sent[i] :])
        for sock in sockets:
            answer = b""
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    finally:
        stop.set()
        for sock in sockets:
            sock.close()

    log.seek(0)
    logged = log.read()
    assert "WORKER TIMEOUT" not in logged
    assert logged.count("Booting worker with pid") == 2, "a worker was restarted"
