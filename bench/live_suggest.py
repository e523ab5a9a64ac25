"""Server time per keystroke request of the ask page's suggestions while typing.

Replays people typing real questions (data/so_questions_with_bodies_sample.csv): the page
sends the question as it stands after each pause, so each question gives the title at
every ``--step`` characters, then the title with the body at every ``--body-step``
characters (the body's HTML as pasted, so code blocks arrive half-typed too). Each state is
one ``POST /api/v1/suggest/preview`` through Flask's test client on the real models, as a
gunicorn worker loads them (one onnxruntime thread, boosted scorers on one OpenMP thread);
the time is the whole request in the server: routing, JSON, checks, rate limit, cleaning,
the model. Prints p50/p95 (nearest rank) per model; the target is 20 ms p95 on 2 cores.
"wall" is the time the request took; "cpu" the CPU time its thread used, which is what the
request costs on an idle core (the models run on one thread here) and is less swayed by other
work on the machine than the wall clock.

    .venv/bin/python -m bench.live_suggest [--questions 40] [--models ensemble,ensemble-forgetful,lexical]

"ensemble-forgetful" is the ensemble without its memory of the title-only members' answers.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
from bench.harness import load_questions, percentile, stamp  # noqa: E402  (after OMP_NUM_THREADS is set)
from ml.backends.ensemble import RECENT_TEXTS  # noqa: E402  (after OMP_NUM_THREADS is set)
from webapp import create_app  # noqa: E402  (after OMP_NUM_THREADS is set)


def typing_states(title: str, body: str, step: int, body_step: int) -> list[dict]:
    """What the page sends while someone types this question, pause by pause."""
    states = [{"title": title[:end], "body": ""} for end in range(step, len(title), step)]
    states.append({"title": title, "body": ""})
    body = body[:4000]  # past this the models read no further (ml.text caps prose and code)
    states += [{"title": title, "body": body[:end]} for end in range(body_step, len(body), body_step)]
    return states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=60, help="questions typed (default: %(default)s)")
    parser.add_argument("--step", type=int, default=4, help="title characters between requests (default: %(default)s)")
    parser.add_argument("--body-step", type=int, default=120, help="body characters between requests")
    parser.add_argument("--models", default="ensemble,omikuji,lexical,baseline", help="comma-separated")
    args = parser.parse_args()
    print(stamp(), flush=True)

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite3",
                "SECRET_KEY": "bench",
                "ORT_THREADS": 1,
                "RATELIMIT_ENABLED": False,
            }
        )
        client = app.test_client()
        questions = load_questions(args.questions)
        states = [s for q in questions for s in typing_states(q["title"], q["body"], args.step, args.body_step)]
        print(f"{len(questions)} questions typed: {len(states)} keystroke requests per model")
        columns = ("title p50", "title p95", "body p50", "body p95", "all p50", "all p95")
        print(f"{'model':<20}{'clock':<6}" + "".join(f"{name:>11}" for name in columns))
        for run in args.models.split(","):
            # "ensemble-forgetful": the ensemble without its memory of title-only members' answers.
            model = run.removesuffix("-forgetful")
            ensemble = app.extensions["tagsmith.models"].get("ensemble") if model == "ensemble" else None
            if ensemble is not None:
                ensemble.recent_texts = 0 if run.endswith("-forgetful") else RECENT_TEXTS
            for state in states[:30]:  # warm-up: first calls allocate
                client.post("/api/v1/suggest/preview", json=state | {"model": model})
            wall: dict[str, list[float]] = {"title": [], "body": []}
            cpu: dict[str, list[float]] = {"title": [], "body": []}
            for state in states:
                started, started_cpu = time.perf_counter(), time.thread_time()
                response = client.post("/api/v1/suggest/preview", json=state | {"model": model})
                part = "body" if state["body"] else "title"
                cpu[part].append((time.thread_time() - started_cpu) * 1000)
                wall[part].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{model}: {response.status_code} {response.get_data(as_text=True)}")
            for clock, timings in (("wall", wall), ("cpu", cpu)):
                every = timings["title"] + timings["body"]
                figures = [percentile(timings[part], q) for part in ("title", "body") for q in (50, 95)]
                figures += [percentile(every, 50), percentile(every, 95)]
                print(f"{run:<20}{clock:<6}" + "".join(f"{value:>9.1f}ms" for value in figures), flush=True)
        # Other work on the machine inflates every figure: say how busy it was.
        print("load average (1, 5, 15 min): " + ", ".join(f"{load:.1f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
