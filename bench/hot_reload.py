"""What switching the site to a new model version costs: the per-request check, the request
that loads the new version, and the requests after it.

Copies the quick models (hard links where the file system allows) and links the committed
transformer into a scratch models folder, serves it with the Flask test client on a
temporary SQLite file, then publishes each model again as a new version
(``ml.artifacts.publish_version``, as ``python -m ml train --new-version`` does) and times
the next requests. The check interval is the site's default (``RELOAD_CHECK_S``).

    .venv/bin/python -m bench.hot_reload [--models-dir models] [--requests 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import timeit
from pathlib import Path

from bench.harness import stamp
from ml.artifacts import VERSIONS_DIR, publish_version
from webapp import create_app
from webapp.ask.serving import EXTENSION_KEY, RELOAD_CHECK_S

ROOT = Path(__file__).resolve().parent.parent

QUICK = ("baseline", "omikuji", "lexical", "ensemble")
TITLE = "How do I merge two dictionaries in Python?"


def link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ask(client, model: str) -> float:
    started = time.perf_counter()
    response = client.post("/api/v1/suggest", json={"title": TITLE, "models": [model]})
    assert response.status_code == 201, response.get_data(as_text=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    print(stamp(), flush=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "runs" if (ROOT / "runs").is_dir() else None) as scratch:
        models = Path(scratch) / "models"
        models.mkdir()
        os.symlink((args.models_dir / "transformer").resolve(), models / "transformer")
        for name in QUICK:
            shutil.copytree(args.models_dir / name, models / name, copy_function=link_or_copy)
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{scratch}/bench.sqlite3",
                "MODELS_DIR": str(models),
                "SECRET_KEY": "bench",
                "RATELIMIT_ENABLED": False,
            }
        )
        client = app.test_client()
        registry = app.extensions[EXTENSION_KEY]
        with app.app_context():
            per_check = timeit.timeit(lambda: registry._artifact("ensemble"), number=2000) / 2000
        print(
            f"the check (one stat through the pointer, at most once per {RELOAD_CHECK_S:g} s per model): "
            f"{per_check * 1e6:.1f} us"
        )
        print("| model | p50 before | the request that loads the new version | p50 after |")
        print("| --- | --- | --- | --- |")
        for name in QUICK:
            before = statistics.median(ask(client, name) for _ in range(args.requests))
            version = models / VERSIONS_DIR / name / f"bench-{name}"
            version.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree((models / name).resolve(), version, copy_function=link_or_copy)
            publish_version(models / name, version)
            time.sleep(RELOAD_CHECK_S)
            loading = ask(client, name)
            assert registry.get(name).metadata is not None
            after = statistics.median(ask(client, name) for _ in range(args.requests))
            print(f"| {name} | {ms(before)} | {ms(loading)} | {ms(after)} |")


if __name__ == "__main__":
    main()
