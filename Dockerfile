# syntax=docker/dockerfile:1
# tagsmith's site in one image: `docker compose up` (compose.yaml) runs it with PostgreSQL.
#
# builder: the runtime libraries in a virtual environment, and the quick models trained by
# `make models` (~3 min on 2 cores) next to the committed transformer.
# runtime: that environment, the code, the data (the tag catalogue; the corpus for
# `flask tagsmith retrain`) and every model, run by an unprivileged user under gunicorn.

FROM python:3.11-slim AS builder
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The venv lives where the runtime image keeps it: its scripts name this path. The code runs
# from /app (gunicorn and `python -m` put it on the path), so the image needs no install of the
# project itself; pyproject.toml is here because the Makefile's set-up step depends on it.
COPY requirements.txt pyproject.toml ./
RUN python -m venv .venv \
    && .venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.txt \
    && touch .venv/.runtime
COPY Makefile ./
COPY ml ./ml
COPY data ./data
COPY models ./models
# One OpenMP thread: the build's training is repeatable whatever the builder's cores.
RUN OMP_NUM_THREADS=1 make models && rm -rf models/*.tmp*

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    FLASK_APP=webapp
RUN useradd --create-home --uid 10001 tagsmith
WORKDIR /app
COPY --from=builder /app/.venv ./.venv
COPY gunicorn.conf.py ./
COPY ml ./ml
COPY webapp ./webapp
COPY migrations ./migrations
COPY data ./data
# The committed transformer and the models the builder trained. Owned by the site's user:
# `flask tagsmith retrain` publishes new versions beside them (mount a volume on
# /app/models to keep those across containers).
COPY --from=builder --chown=tagsmith:tagsmith /app/models ./models
RUN mkdir -p instance && chown tagsmith:tagsmith instance
USER tagsmith
EXPOSE 8000
# Liveness only: /healthz/ready also needs the database, which compose checks on its own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz/live', timeout=4).status != 200)"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
