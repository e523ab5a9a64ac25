"""The site with a large history: every read page, searches, paging, exports and /stats, and
the suggest endpoint's throughput, on SQLite and on PostgreSQL.

For each back-end: an empty database is made by the site itself (create_app: the tables, the
search index, the migrations stamped), then filled with ``--questions`` stored questions by
bulk SQLAlchemy Core inserts: real titles and HTML bodies (data/so_questions_open.jsonl and
data/so_questions_with_bodies_sample.csv, recycled; 80% of questions get a body), one to
three models' answers each with 1-5 tags (the question's real tags first), 10% reviewed
(1-2 tags accepted, the rest rejected, sometimes one added). PostgreSQL gets VACUUM ANALYZE
afterwards, as autovacuum would; SQLite gets no ANALYZE, as the site runs none.

Then a real gunicorn (2 workers, gunicorn.conf.py's gthread, rate limits off, models loaded
lazily) serves it on a loopback port and each page is requested ``--requests`` times, one
request at a time after two unmeasured ones: p50 and p95 of the client-side time to the
whole response. The exports are timed to the first byte and to the last. Suggest
throughput: ``--suggest-requests`` POSTs of one question each to /api/v1/suggest
(``--suggest-model``, 2 in flight), to a server on an empty database and one on the full
database, in sixteen alternating rounds (the median round of each; also the median of each
round's full / empty ratio, whose halves ran back to back, and which goes first alternates),
so that the other load on the machine weighs on both alike (with four rounds of 50 the
ratio spread from 82% to 101% between runs on the same quiet machine, with eight of 150
from 88% to 96%, with sixteen of 150 from 88% to 97%: rounds of 300 by default). The
machine's speed still drifts within a round (from one run to the next the ratio went from 88%
to 100% with the same code), so suggest is also measured with both servers loaded at once
(``--at-once-rounds`` rounds of ``--at-once-seconds``, 2 in flight on each): whatever slows
the machine then slows both in the same seconds, and the ratio of the two counts is the
database's cost alone (93-96% in three runs, in an hour when alternating runs gave 88-100%). The
PostgreSQL server is a throwaway cluster (tests/helpers/postgres.py), stopped and deleted at the end.

Filling a million questions takes minutes, so a filled database can be kept and reused:
``--keep FOLDER`` keeps the SQLite file there (``full-<questions>.sqlite3``) and
``--postgres-url URL`` (a server's admin URL, e.g. from ``python -m tests.helpers.postgres``) keeps
the database ``tagsmith_scale_<questions>`` on that server; a later run with the same options
reads them again (the site upgrades their schema on start, as it would in production).

    nice -n 10 .venv/bin/python -m bench.history_scale [--questions 1000000] [--backends sqlite,postgresql]
        [--keep /tmp/tagsmith-scale] [--postgres-url postgresql+psycopg://tagsmith@127.0.0.1:PORT/postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from bench.harness import free_port, percentile, reviewer_token, stamp, stop_server

ROOT = Path(__file__).resolve().parent.parent

OPEN = ROOT / "data" / "so_questions_open.jsonl"
BODIES = ROOT / "data" / "so_questions_with_bodies_sample.csv"
MODELS = ["ensemble", "lexical", "omikuji", "baseline", "transformer"]
BATCH = 5_000


# -- the data ---------------------------------------------------------------------------


def load_sources() -> tuple[list[tuple[str, list[str]]], list[str]]:
    """(title, real tags) of every question, and every real HTML body."""
    titles, bodies = [], []
    with open(OPEN, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            tags = record.get("tags") or []
            titles.append((record["title"][:300], tags if isinstance(tags, list) else str(tags).split()))
            if record.get("body"):
                bodies.append(record["body"][:50_000])
    csv.field_size_limit(10_000_000)
    with open(BODIES, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            titles.append((row["title"][:300], row["tags"].split()))
            if row.get("body"):
                bodies.append(row["body"][:50_000])
    return titles, bodies


def fill(url: str, questions: int, seed: int = 0) -> float:
    """Insert the history through SQLAlchemy Core with explicit ids; seconds taken."""
    from sqlalchemy import create_engine, insert, text

    from webapp.core.tables import ModelAnswer, Question, ReviewedTag, SuggestedTag
    from webapp.history import tag_index

    rng = random.Random(seed)
    titles, bodies = load_sources()
    popular = [tag for title, tags in titles[:5000] for tag in tags]
    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    started = time.perf_counter()
    start_time = datetime(2026, 1, 1)
    answer_id = tag_id = review_id = 0
    with engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA synchronous=OFF")
            connection.commit()
        else:
            # One GIN build at the end is far cheaper than a million index updates.
            connection.exec_driver_sql("DROP INDEX IF EXISTS ix_predictions_search")
            connection.commit()
        for first in range(1, questions + 1, BATCH):
            rows: dict[str, list[dict]] = {"p": [], "a": [], "t": [], "r": []}
            for prediction_id in range(first, min(first + BATCH, questions + 1)):
                title, real = titles[rng.randrange(len(titles))]
                reviewed = rng.random() < 0.10
                created = start_time + timedelta(seconds=prediction_id * 10)
                rows["p"].append(
                    {
                        "id": prediction_id,
                        "title": title,
                        "body": bodies[rng.randrange(len(bodies))] if rng.random() < 0.8 else "",
                        "created_at": created,
                        "source": "api" if rng.random() < 0.5 else "web",
                        "top_k": 5,
                        "threshold": None,
                        "reviewed_at": created + timedelta(hours=1) if reviewed else None,
                    }
                )
                chosen = ["ensemble"] + rng.sample(MODELS[1:], rng.choice((0, 0, 1, 2)))
                suggested: list[str] = []
                for model in chosen:
                    answer_id += 1
                    rows["a"].append(
                        {
                            "id": answer_id,
                            "prediction_id": prediction_id,
                            "model": model,
                            "model_version": f"{model}-bench",
                            "latency_ms": rng.uniform(2, 40),
                            "created_at": created,
                        }
                    )
                    tags = list(dict.fromkeys(real + rng.sample(popular, 5)))[: rng.randint(1, 5)]
                    for rank, tag in enumerate(tags):
                        tag_id += 1
                        score = round(max(0.01, 0.95 - 0.15 * rank - rng.random() * 0.2), 4)
                        rows["t"].append(
                            {
                                "id": tag_id,
                                "answer_id": answer_id,
                                "rank": rank,
                                "tag": tag[:64],
                                "score": score,
                                "confident": rank == 0 or score > 0.5,
                            }
                        )
                    suggested += [tag for tag in tags if tag not in suggested]
                if reviewed:
                    accepted = rng.randint(1, min(2, len(suggested)))
                    verdicts = [(tag, "accepted" if i < accepted else "rejected") for i, tag in enumerate(suggested)]
                    if rng.random() < 0.3:
                        extra = rng.choice(popular)[:64]
                        if extra not in suggested:
                            verdicts.append((extra, "added"))
                    for position, (tag, verdict) in enumerate(verdicts):
                        review_id += 1
                        rows["r"].append(
                            {
                                "id": review_id,
                                "prediction_id": prediction_id,
                                "tag": tag[:64],
                                "verdict": verdict,
                                "position": position,
                            }
                        )
            connection.execute(insert(Question.__table__), rows["p"])
            connection.execute(insert(ModelAnswer.__table__), rows["a"])
            connection.execute(insert(SuggestedTag.__table__), rows["t"])
            if rows["r"]:
                connection.execute(insert(ReviewedTag.__table__), rows["r"])
            connection.commit()
            done = min(first + BATCH - 1, questions)
            if done % 100_000 < BATCH:
                print(f"  {done:,} questions, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        tag_index.rebuild(connection)  # the site's writes keep it; bulk inserts bypass them
        connection.commit()
        if not sqlite:
            connection.exec_driver_sql("CREATE INDEX ix_predictions_search ON predictions USING gin (search)")
            for table, last in (
                ("predictions", questions),
                ("model_answers", answer_id),
                ("suggested_tags", tag_id),
                ("reviewed_tags", review_id),
            ):
                connection.execute(text(f"SELECT setval('{table}_id_seq', :last)"), {"last": max(last, 1)})
            connection.commit()
    if not sqlite:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return time.perf_counter() - started


def kept_postgres_database(cluster, name: str) -> tuple[str, bool]:
    """The URL of the kept database ``name`` (created when missing), and whether it is filled."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    with cluster._admin() as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    url = make_url(cluster.admin_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.connect() as connection:
        comment = connection.exec_driver_sql(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
        ).scalar()
    engine.dispose()
    return url, comment == "filled"


def mark_filled(url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    engine = create_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"COMMENT ON DATABASE \"{make_url(url).database}\" IS 'filled'")
    engine.dispose()


def make_schema(url: str) -> None:
    from webapp import create_app
    from webapp.core.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PRELOAD_MODELS": False, "SECRET_KEY": "bench"})
    with app.app_context():
        db.engine.dispose()


# -- the server -------------------------------------------------------------------------


@contextlib.contextmanager
def serve(url: str, models_dir: Path, folder: Path):
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        TAGSMITH_MODELS_DIR=str(models_dir),
        SECRET_KEY="bench",
        TAGSMITH_RATE_LIMITS="0",
        TAGSMITH_PRELOAD_MODELS="0",
        TAGSMITH_ORT_THREADS="1",
        # The bench times what a million questions make slow; the default 5 s would cut it off.
        TAGSMITH_STATEMENT_TIMEOUT_MS="60000",
    )
    log = open(folder / f"gunicorn-{port}.log", "w")  # noqa: SIM115
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "300"]
    command.append("webapp:create_app()")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                raise SystemExit(f"gunicorn exited with status {server.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(base + "/healthz/live", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not answer within 180 s; see {log.name}") from None
                time.sleep(0.25)
        yield base
    finally:
        stop_server(server, log)


def fetch(url: str, timeout: float = 60, token: str | None = None) -> tuple[int, float, float, int]:
    """(status, ms to the first byte of the body, ms to the last, bytes)."""
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            status = response.status
            first = response.read(1)
            first_ms = (time.perf_counter() - started) * 1000
            size = len(first) + len(response.read())
    except urllib.error.HTTPError as error:
        status, size = error.code, len(error.read())
        first_ms = (time.perf_counter() - started) * 1000
    except TimeoutError:
        return 0, timeout * 1000, timeout * 1000, 0
    return status, first_ms, (time.perf_counter() - started) * 1000, size


def pages(questions: int, per_page: int = 20) -> list[tuple[str, str, int]]:
    """(label, path, repeats): the reads to time (repeats 0: the --requests default)."""
    middle = max(1, questions // 2)
    deep_page = min(100_000, max(1, questions // per_page // 2))
    detail = max(1, questions * 3 // 4)
    return [
        ("ask page", "/", 0),
        ("history", "/history/", 0),
        ("history ?q=python", "/history/?q=python", 0),
        ("history ?q=über", "/history/?q=%C3%BCber", 0),
        ("history ?q=pro (short prefix)", "/history/?q=pro", 0),
        ("history ?q=two words", "/history/?q=android+layout", 0),
        ("history ?q=no match", "/history/?q=zzyzxqwv", 0),
        ("history ?tag=python", "/history/?tag=python", 0),
        ("history ?model=omikuji", "/history/?model=omikuji", 0),
        ("history ?tag=python&model=omikuji", "/history/?tag=python&model=omikuji", 0),
        # The fill never asks the memory model: the case of a model asked for few questions.
        ("history ?model=memory (no answer)", "/history/?model=memory", 0),
        ("history ?model=transformer&reviewed=yes", "/history/?model=transformer&reviewed=yes", 0),
        ("history ?reviewed=yes", "/history/?reviewed=yes", 0),
        (f"history before={middle} (keyset)", f"/history/?before={middle}", 0),
        ("history after=0 (oldest)", "/history/?after=0", 0),
        (f"history ?page={deep_page} (offset)", f"/history/?page={deep_page}", 5),
        ("history ?page=50", "/history/?page=50", 0),
        ("question page", f"/history/{detail}", 0),
        ("stats", "/stats", 2),
        ("api list", "/api/v1/predictions", 0),
        ("api ?q=python", "/api/v1/predictions?q=python", 0),
        ("api ?q=über", "/api/v1/predictions?q=%C3%BCber", 0),
        ("api ?tag=regex&model=transformer", "/api/v1/predictions?tag=regex&model=transformer", 0),
        ("api ?model=lexical", "/api/v1/predictions?model=lexical", 0),
        (f"api before={middle} (keyset)", f"/api/v1/predictions?before={middle}&per_page=100", 0),
        ("api ?q=python before= (keyset)", f"/api/v1/predictions?q=python&before={middle}", 0),
        (f"api ?page={deep_page} (offset)", f"/api/v1/predictions?page={deep_page}", 5),
        ("api one prediction", f"/api/v1/predictions/{detail}", 0),
    ]


def time_reads(base: str, questions: int, repeats: int, stats_timeout: float, token: str) -> dict[str, dict]:
    results = {}
    for label, path, count in pages(questions):
        count = count or repeats
        timeout = stats_timeout if path == "/stats" else 60
        for _ in range(0 if path == "/stats" else 2):
            fetch(base + path, timeout)
        runs = [fetch(base + path, timeout) for _ in range(count)]
        statuses = sorted({run[0] for run in runs})
        if statuses != [200]:
            late = f" (timeout {stats_timeout:.0f} s)" if 0 in statuses else ""
            results[label] = {"note": f"status {statuses}{late}"}
            continue
        totals = [run[2] for run in runs]
        results[label] = {"p50": percentile(totals, 50), "p95": percentile(totals, 95)}
    for kind in ("csv", "jsonl"):
        runs = [fetch(base + f"/history/export.{kind}", 600, token) for _ in range(3)]
        results[f"export.{kind} first byte"] = {
            "p50": percentile([run[1] for run in runs], 50),
            "p95": percentile([run[1] for run in runs], 95),
        }
        results[f"export.{kind} whole"] = {
            "p50": percentile([run[2] for run in runs], 50),
            "p95": percentile([run[2] for run in runs], 95),
            "note": f"{runs[0][3] / 1e6:.0f} MB",
        }
    return results


def post_suggest(base: str, model: str, title: str) -> int:
    data = json.dumps({"title": title, "models": [model]}).encode()
    request = urllib.request.Request(base + "/api/v1/suggest", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status


def suggest_rps(base: str, model: str, requests: int, titles: list[str]) -> float:
    def post(title: str) -> int:
        return post_suggest(base, model, title)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(post, titles[:10]))  # loads the model in both workers
        started = time.perf_counter()
        statuses = list(pool.map(post, titles[10 : 10 + requests]))
        wall = time.perf_counter() - started
    if set(statuses) != {201}:
        raise SystemExit(f"suggest answered {sorted(set(statuses))}")
    return len(statuses) / wall


def suggest_at_once(bases: dict[str, str], model: str, seconds: float, titles: list[str]) -> dict[str, float]:
    """Requests a second each server answered while all were loaded together (2 in flight each)."""
    deadline = time.perf_counter() + seconds

    def drive(base: str, offset: int) -> int:
        answered = 0
        while time.perf_counter() < deadline:
            status = post_suggest(base, model, titles[(offset + answered) % len(titles)])
            if status != 201:
                raise SystemExit(f"suggest answered {status}")
            answered += 1
        return answered

    with ThreadPoolExecutor(2 * len(bases)) as pool:
        counts = {name: [pool.submit(drive, base, 1000 * slot) for slot in range(2)] for name, base in bases.items()}
        return {name: sum(future.result() for future in futures) / seconds for name, futures in counts.items()}


def database_size(url: str) -> str:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"{Path(parsed.database or '').stat().st_size / 1e9:.2f} GB"
    engine = create_engine(url)
    with engine.connect() as connection:
        size = connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar() or 0
    engine.dispose()
    return f"{size / 1e9:.2f} GB"


def run_backend(backend: str, args, folder: Path, cluster) -> dict:
    if backend == "sqlite":
        empty_url = f"sqlite:///{folder / 'empty.sqlite3'}"
        kept = args.keep / f"full-{args.questions}.sqlite3" if args.keep else None
        full_url = f"sqlite:///{kept or folder / 'full.sqlite3'}"
        filled = kept is not None and kept.with_suffix(".filled").exists()
    else:
        empty_url = cluster.create_database()
        if args.postgres_url:
            full_url, filled = kept_postgres_database(cluster, f"tagsmith_scale_{args.questions}")
        else:
            full_url, filled = cluster.create_database(), False
    started = time.perf_counter()
    for url in (empty_url, full_url):
        make_schema(url)
    schema_s = time.perf_counter() - started
    titles = [title for title, _ in load_sources()[0][: args.suggest_requests + 20]]
    if filled:
        print(f"{backend}: reusing the filled database (schema upgrade {schema_s:.0f} s)", file=sys.stderr, flush=True)
        fill_s = 0.0
    else:
        print(f"{backend}: filling {args.questions:,} questions", file=sys.stderr, flush=True)
        fill_s = fill(full_url, args.questions)
        if backend == "sqlite" and kept is not None:
            kept.with_suffix(".filled").touch()
        elif args.postgres_url:
            mark_filled(full_url)
    token = reviewer_token(full_url)
    size = database_size(full_url)
    print(f"{backend}: {size}; timing", file=sys.stderr, flush=True)
    with serve(full_url, args.models_dir, folder) as full, serve(empty_url, args.models_dir, folder) as empty:
        reads = time_reads(full, args.questions, args.requests, args.stats_timeout, token)
        # Empty and full take turns, so that whatever else the machine does weighs on both.
        rounds = 16
        per_round = max(1, args.suggest_requests // rounds)
        rates: dict[str, list[float]] = {"empty": [], "full": []}
        for k in range(rounds):
            turns = (("empty", empty), ("full", full))
            for name, base in turns if k % 2 == 0 else turns[::-1]:  # neither always goes first
                rates[name].append(suggest_rps(base, args.suggest_model, per_round, titles))
        together = [
            suggest_at_once({"empty": empty, "full": full}, args.suggest_model, args.at_once_seconds, titles)
            for _ in range(args.at_once_rounds)
        ]
    # Each round's two halves ran back to back: their ratio is the least disturbed by drift.
    ratios = sorted(f / e for e, f in zip(rates["empty"], rates["full"], strict=True))
    at_once = sorted(round_["full"] / round_["empty"] for round_ in together)
    return {
        "at_once_empty_rps": statistics.median(round_["empty"] for round_ in together),
        "at_once_full_rps": statistics.median(round_["full"] for round_ in together),
        "at_once_ratio": statistics.median(at_once),
        "at_once_ratios": (at_once[len(at_once) // 4], at_once[(3 * len(at_once)) // 4]),
        "reads": reads,
        "fill_s": fill_s,
        "size": size,
        "empty_rps": statistics.median(rates["empty"]),
        "full_rps": statistics.median(rates["full"]),
        "round_ratio": statistics.median(ratios),
        "round_ratios": (ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=1_000_000, help="stored questions (default: %(default)s)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page (default: %(default)s)")
    parser.add_argument("--stats-timeout", type=float, default=30, help="seconds for /stats (default: %(default)s)")
    parser.add_argument("--suggest-model", default="baseline", help="the model suggest asks (default: %(default)s)")
    parser.add_argument("--suggest-requests", type=int, default=4800, help="(default: %(default)s)")
    parser.add_argument(
        "--at-once-rounds", type=int, default=8, help="rounds with both servers loaded together (default: %(default)s)"
    )
    parser.add_argument("--at-once-seconds", type=float, default=8.0, help="seconds a round (default: %(default)s)")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models", help="(default: models/)")
    parser.add_argument("--folder", type=Path, help="where the SQLite files go (default: a temporary folder)")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the filled SQLite file in this folder")
    parser.add_argument(
        "--postgres-url", help="a PostgreSQL server's admin URL: keep (and reuse) the filled database there"
    )
    args = parser.parse_args()
    print(stamp(), flush=True)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if not set(backends) <= {"sqlite", "postgresql"} or args.questions < 1:
        parser.error("--backends takes sqlite and/or postgresql; --questions at least 1")

    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="tagsmith-scale-", dir=args.folder) as name:
        folder = Path(name)
        cluster = None
        try:
            if "postgresql" in backends:
                from tests.helpers.postgres import Cluster

                cluster = Cluster(args.postgres_url) if args.postgres_url else Cluster.start()
            for backend in backends:
                results[backend] = run_backend(backend, args, folder, cluster)
        finally:
            if cluster is not None:
                cluster.stop()
    report(args, backends, results)
    return 0


def report(args, backends: list[str], results: dict[str, dict]) -> None:
    print(
        f"\n{args.questions:,} stored questions; gunicorn, 2 gthread workers; {args.requests} sequential requests "
        f"per page (exports 3, /stats 2, offset pages 5); {os.cpu_count()} CPUs; ms, client side, whole response"
    )
    for backend in backends:
        result = results[backend]
        filled = f"filled in {result['fill_s']:.0f} s" if result["fill_s"] else "a kept database"
        print(f"{backend}: {filled}, {result['size']}")
    labels = list(next(iter(results.values()))["reads"])
    header = f"{'page':<36}" + "".join(f" {backend + ' p50 / p95':>24}" for backend in backends)
    print(header)
    print("-" * len(header))
    for label in labels:
        cells = []
        for backend in backends:
            row = results[backend]["reads"][label]
            cell = f"{row['p50']:.0f} / {row['p95']:.0f}" if "p50" in row else ""
            if row.get("note"):
                cell = f"{cell} ({row['note']})".strip()
            cells.append(f" {cell:>24}")
        print(f"{label:<36}" + "".join(cells))
    for backend in backends:
        result = results[backend]
        print(
            f"suggest ({args.suggest_model}, 2 in flight, median of 16 rounds) on {backend}: "
            f"{result['empty_rps']:.1f} req/s empty, "
            f"{result['full_rps']:.1f} req/s full ({100 * result['full_rps'] / result['empty_rps']:.0f}%); "
            f"full / empty in the same round: median {100 * result['round_ratio']:.0f}%, quartiles "
            f"{100 * result['round_ratios'][0]:.0f}-{100 * result['round_ratios'][1]:.0f}%"
        )
        print(
            f"suggest with both servers loaded at once ({args.at_once_rounds} rounds of {args.at_once_seconds:.0f} s, "
            f"2 in flight on each) on {backend}: {result['at_once_empty_rps']:.1f} req/s empty, "
            f"{result['at_once_full_rps']:.1f} req/s full; full / empty in the same seconds: median "
            f"{100 * result['at_once_ratio']:.0f}%, quartiles "
            f"{100 * result['at_once_ratios'][0]:.0f}-{100 * result['at_once_ratios'][1]:.0f}%"
        )


if __name__ == "__main__":
    sys.exit(main())
