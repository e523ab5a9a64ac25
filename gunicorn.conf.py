"""gunicorn's settings for tagsmith: the one configuration `make run`, the Procfile and
render.yaml all use (gunicorn reads ./gunicorn.conf.py from the folder it starts in; each
command passes only its address). Figures: docs/benchmarks.md, "Slow clients and abuse".

Threaded workers (gthread), not the default sync ones: a sync worker serves one connection
at a time, so two clients sending a request one byte a second held both workers until the
worker timeout killed them, and the site answered no one meanwhile. A gthread worker's main
thread accepts connections and keeps beating the heartbeat, and a slow client holds one of
its threads while its headers or body trickle in, not the worker. Every model is safe to
call from several threads at once (onnxruntime sessions, scikit-learn transforms, omikuji's
prediction and the tokenizer give the same answers from 8 threads as serially), so a worker
needs no lock around them.
"""

import os

wsgi_app = "webapp:create_app()"

# Each worker loads every model once, so workers cost memory; threads cost almost none. Two
# workers for two cores; WEB_CONCURRENCY (the usual variable) changes it.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
worker_class = "gthread"
# Requests in progress per worker. Model work is CPU-bound, so threads add little throughput
# beyond overlapping one request's network reads with another's model; what they buy is room
# for slow clients, each of which holds a thread until its request is in. With 8 a worker,
# 32 clients sending a byte a second stalled the site; with 40, even 32 landing on one worker
# leave it threads (bench/abuse.py). A thread costs its stack, untouched until used; the
# models are shared by a worker's threads.
threads = 40

# The heartbeat: with gthread the main thread beats between events whatever the requests
# are doing, so this only kills a worker that is truly stuck, never a slow upload.
timeout = 30
# On SIGTERM (a deploy), requests in progress get this long to finish; Render waits 30 s.
graceful_timeout = 20
# Kept-alive connections wait in the worker's poller, holding no thread, this many seconds.
keepalive = 5

# Request line and headers: the request line gunicorn's default, fewer header fields (a
# browser sends about 15, a proxy adds a few), each at most 8 kB.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190

# One onnxruntime thread per model: the workers (and their threads) share the cores. A value
# set in the environment wins.
os.environ.setdefault("TAGSMITH_ORT_THREADS", "1")

accesslog = "-"


def on_starting(server) -> None:
    """Migrate the schema once, in the master, before any worker starts: a migration at a
    million questions takes longer than ``timeout``, which killed a worker migrating during
    its boot, over and over. The workers (forked after this) only check that the schema is at
    the head, and refuse to serve an out-of-date one."""
    from webapp import create_app
    from webapp.core.extensions import db

    app = create_app({"PRELOAD_MODELS": False, "MIGRATE_ON_START": True})
    with app.app_context():
        db.engine.dispose()  # no connection crosses the fork
    os.environ["TAGSMITH_MIGRATE_ON_START"] = "0"


def post_worker_init(worker) -> None:
    """The worker has built the app and loaded its models: keep them, and whatever it loads
    later, out of the garbage collector's full collections (webapp.ask.serving's ``settle``)."""
    from webapp.ask.serving import EXTENSION_KEY

    registry = getattr(worker.wsgi, "extensions", {}).get(EXTENSION_KEY)  # None: not tagsmith's app
    if registry is not None:
        registry.keep_loaded_out_of_gc = True
        registry.settle()
