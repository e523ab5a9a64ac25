# `make run` and `make test` are the two commands of the README: each builds what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
BASELINE := models/baseline/metadata.json
# The quick models `make run` trains when missing: the ensemble combines the others.
OPEN_MODELS := models/omikuji/metadata.json models/lexical/metadata.json models/memory/metadata.json
ENSEMBLE := models/ensemble/metadata.json
QUICK_MODELS := $(BASELINE) $(OPEN_MODELS) $(ENSEMBLE)
CATALOGUE := $(wildcard data/catalogue/*)

.PHONY: run dev test test-quick lint docs baseline models train-transformer clean-venv

run: $(VENV)/.runtime $(QUICK_MODELS)
	@echo "tagsmith: serving on http://$(HOST):$(PORT)  (Ctrl-C stops it)"
	@# gunicorn.conf.py, shared with the Procfile and render.yaml: 2 threaded workers sharing
	@# the two cores (one onnxruntime thread each), timeouts, header limits, the access log.
	$(VENV)/bin/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT)

dev: $(VENV)/.runtime $(QUICK_MODELS)
	$(VENV)/bin/flask --app webapp run --debug --port $(PORT)

# The lint and type gate first, then every test. The browser test drives Debian's chromium
# through its chromedriver (never a downloaded one). Every test that stores anything runs on
# SQLite and on PostgreSQL: the tests start a throwaway PostgreSQL cluster from Debian's
# server binaries on 127.0.0.1 and delete it at the end (tests/helpers/postgres.py); installed here
# when missing and run as root (without it and not under CI=true, those variants skip).
test: lint docs
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)
	$(PY) -m pytest

# A developer's quick loop: the gate and every test but the slow ones (fine-tuning,
# gunicorn, the browser).
test-quick: lint
	$(PY) -m pytest -m "not slow" -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The documentation site, built strictly: a broken link, a missing page or an unlisted one fails.
docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

models: $(QUICK_MODELS)

# The baseline trains quickly, so it is built on demand, never committed.
baseline $(BASELINE): | $(VENV)/.runtime
	$(PY) -m ml train --model baseline

# The open-vocabulary tree, the lexical matcher and the memory learn quickly from the bundled corpus,
# under the catalogue's names: a newer catalogue retrains them. The ensemble learns its combiner on
# validation once its members exist.
$(OPEN_MODELS): models/%/metadata.json: $(CATALOGUE) | $(VENV)/.runtime
	$(PY) -m ml --quiet train --model $*

$(ENSEMBLE): $(OPEN_MODELS) $(BASELINE) models/transformer/metadata.json | $(VENV)/.runtime
	$(PY) -m ml --quiet train --model ensemble

# Fine-tuning is slow (5 epochs over every source), so its artifact is committed; this rebuilds it.
# It resumes from runs/transformer/ when interrupted.
train-transformer: $(VENV)/.train
	$(PY) -m ml train --model transformer

$(VENV)/.train: requirements-train.txt requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-train.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@ $(VENV)/.runtime

# The project is installed (editable) beside its requirements, so `ml` and `webapp` import
# from anywhere: the tests, the bench scripts and the commands need no path set-up.
$(VENV)/.runtime: requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements-train.txt requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@ $(VENV)/.train $(VENV)/.runtime

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

clean-venv:
	rm -rf $(VENV)
