"""The models a worker serves: each loaded once per process and kept for its lifetime.

Which models exist comes from ``ml.registry``; the web layer only knows the ``Predictor``
interface, never a model class. A model without an artifact (or with a broken one) is
*unavailable*, with the reason, and the rest of the site keeps working. Unavailability is
not cached for good: as soon as the model's folder changes (the transformer's artifact
appears), the next request tries again.

A loaded model is replaced when its artifact changes (``python -m ml train --new-version``
or ``--with-reviews``, ``flask tagsmith retrain``, see ``ml.artifacts``): at most once per
``RELOAD_CHECK_S`` a request stats the model's metadata file through ``models/<name>``;
when it names another file, that request loads the new model and swaps the reference.
Requests already running keep the predictor they took; a version that fails to load is
logged and the old one kept. Each worker checks for itself, so gunicorn needs no restart.

A gunicorn worker keeps what it has loaded out of the garbage collector's full collections
(``keep_loaded_out_of_gc``, set by gunicorn.conf.py), which walked every model's objects
and paused a request now and then.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from ml.artifacts import METADATA_FILE
from ml.errors import ModelUnavailable
from ml.paths import MODELS_DIR
from ml.predictor import Predictor, ServingOptions
from ml.registry import ModelKind, get_kind, kinds, load_predictor, model_dir, model_names
from webapp.core.errors import hide_paths
from webapp.core.inputs import BOTH

EXTENSION_KEY = "tagsmith.models"
RELOAD_CHECK_S = 1.0
# A model that failed to load is tried again when its folder changes, and at least this
# often: a fix elsewhere (an ensemble member's folder, a file put back as it was) changes
# nothing in the folder the worker watches.
RETRY_LOAD_S = 10.0
log = logging.getLogger(__name__)

Loader = Callable[[str, "str | Path | None", ServingOptions], Predictor]


@dataclass(frozen=True)
class ModelState:
    kind: ModelKind
    predictor: Predictor | None
    message: str | None  # why it is unavailable

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def available(self) -> bool:
        return self.predictor is not None


class ServedModels:
    def __init__(
        self,
        models_dir: str | Path | None = None,
        loader: Loader = load_predictor,
        options: ServingOptions | None = None,
        reload_check_s: float = RELOAD_CHECK_S,
    ):
        self.models_dir = models_dir
        self.loader = loader
        self.options = options or ServingOptions()
        self.reload_check_s = reload_check_s
        self.retry_load_s = RETRY_LOAD_S
        self._loaded: dict[str, Predictor] = {}
        self._failed: dict[str, tuple[object, str, float]] = {}  # name -> (folder signature, message, when)
        self._lock = threading.Lock()
        self._artifacts: dict[str, object] = {}  # name -> the artifact the loaded model came from
        self._broken: dict[str, object] = {}  # name -> a newer artifact that failed to load
        self._checked: dict[str, float] = {}
        self._reloading = threading.Lock()
        # Set in long-lived servers (gunicorn.conf.py's post_worker_init): see ``settle``.
        self.keep_loaded_out_of_gc = False

    def settle(self) -> None:
        """With ``keep_loaded_out_of_gc``: move every object alive now (the app, the models
        loaded so far) to the garbage collector's permanent generation, which its collections
        never walk. A full collection walked them all, a pause in whichever request triggered
        it. The objects frozen before are given back and collected first, so a model replaced
        since is reclaimed even if it held a cycle."""
        if self.keep_loaded_out_of_gc:
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    def put(self, name: str, predictor: Predictor) -> None:
        """Serve this predictor under ``name`` (tests inject fakes through here)."""
        with self._lock:
            self._loaded[name] = predictor
            self._artifacts[name] = self._artifact(name)
            self._failed.pop(name, None)

    def get(self, name: str) -> Predictor:
        state = self.state(name)
        if state.predictor is None:
            raise ModelUnavailable(state.message or f"The {name} model is not available.", {name: state.message or ""})
        return state.predictor

    def state(self, name: str) -> ModelState:
        kind = get_kind(name)
        if name in self._loaded:
            self._reload_if_changed(name)
            return ModelState(kind, self._loaded[name], None)
        with self._lock:  # threaded servers: one thread loads, the others wait for it
            if name in self._loaded:
                return ModelState(kind, self._loaded[name], None)
            signature = self._signature(name)
            artifact = self._artifact(name)
            failed = self._failed.get(name)
            if failed is not None and failed[0] == signature and time.monotonic() - failed[2] < self.retry_load_s:
                return ModelState(kind, None, failed[1])
            try:
                predictor = self.loader(name, self.models_dir, self.options)
            except Exception as error:  # a model that cannot load must not take the site down
                if isinstance(error, ModelUnavailable):
                    message = self._public(str(error))
                else:
                    message = self._public(f"The {name} model could not be loaded ({error}).")
                if failed is None or failed[1] != message:  # once, not at every retry
                    log.warning("the %s model is unavailable: %s", name, message, exc_info=error)
                self._failed[name] = (signature, message, time.monotonic())
                return ModelState(kind, None, message)
            self._loaded[name] = predictor
            self._artifacts[name] = artifact
            self._checked[name] = time.monotonic()
            self._failed.pop(name, None)
            log.info("loaded the %s model (%s) in process %d", name, predictor.version, os.getpid())
            self.settle()
            return ModelState(kind, predictor, None)

    def _reload_if_changed(self, name: str) -> None:
        now = time.monotonic()
        if now - self._checked.get(name, 0.0) < self.reload_check_s:
            return
        self._checked[name] = now
        artifact = self._artifact(name)
        if artifact is None or artifact in (self._artifacts.get(name), self._broken.get(name)):
            return
        # One thread loads; the others keep answering with the model they have.
        if not self._reloading.acquire(blocking=False):
            return
        try:
            predictor = self.loader(name, self.models_dir, self.options)
        except Exception:
            log.exception("loading the new %s model failed; still serving %s", name, self._loaded[name].version)
            self._broken[name] = artifact
            return
        finally:
            self._reloading.release()
        warm_up(name, predictor)
        with self._lock:
            old = self._loaded[name]
            self._loaded[name] = predictor
            self._artifacts[name] = artifact
        log.info("reloaded the %s model: %s -> %s in process %d", name, old.version, predictor.version, os.getpid())
        del old, predictor  # so that settle can reclaim the old model
        self.settle()

    def _artifact(self, name: str) -> object:
        """Which artifact ``models/<name>`` holds now: its metadata file's device, inode,
        size and time (one stat through the symlink; a folder renamed keeps its files'
        inodes, so a flat folder adopted as a version is not loaded again). None while
        there is none."""
        metadata = model_dir(name, self.models_dir) / METADATA_FILE
        try:
            stat = metadata.stat()
            return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except OSError:
            return None

    def has_artifact(self, name: str) -> bool:
        """Whether the model is served, or ``models/<name>`` holds an artifact, loadable or not."""
        return name in self._loaded or self._artifact(name) is not None

    def states(self) -> list[ModelState]:
        return [self.state(kind.name) for kind in kinds()]

    def _public(self, message: str) -> str:
        """Every visitor reads these messages: the models folder is shown as models/, as
        the README names it, and no other absolute path is shown at all."""
        folder = Path(self.models_dir or MODELS_DIR)
        return hide_paths(message, {str(folder.resolve()): "models", str(folder.absolute()): "models"})

    def _signature(self, name: str) -> object:
        """Names, sizes and times of the files in the model's folder: cheap to compute on
        each request for an unavailable model, and it changes when an artifact lands."""
        folder = model_dir(name, self.models_dir)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            return tuple((entry.name, entry.stat().st_size, entry.stat().st_mtime_ns) for entry in entries)
        except OSError:
            return None


def init_app(app: Flask) -> ServedModels:
    registry = ServedModels(
        app.config.get("MODELS_DIR"),
        app.config.get("MODEL_LOADER") or load_predictor,
        # Its own scope: the models that learn from reviews learn only this site's.
        ServingOptions(threads=app.config.get("ORT_THREADS"), scope=uuid.uuid4().hex),
    )
    app.extensions[EXTENSION_KEY] = registry
    if app.config.get("PRELOAD_MODELS", True):
        # gunicorn calls create_app in each worker: the models load at boot, not on a request.
        for state in registry.states():
            if state.predictor is not None:
                warm_up(state.name, state.predictor)
    return registry


def warm_up(name: str, predictor: Predictor) -> None:
    """One throwaway prediction: the first call pays one-off set-up costs, which should not
    land on the first visitor."""
    try:
        predictor.predict(["warm up"], top_k=1)
    except Exception:
        log.exception("warming up the %s model failed", name)


def default_model() -> str:
    """The configured default model when it can answer, else every model side by side (a
    site whose ensemble is not built yet still answers with what it has)."""
    name = current_app.config.get("DEFAULT_MODEL") or BOTH
    if name != BOTH and name in model_names() and models().state(name).available:
        return name
    return BOTH


def models() -> ServedModels:
    return current_app.extensions[EXTENSION_KEY]
