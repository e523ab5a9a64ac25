"""The model kinds tagsmith knows, by name, as Annif maps names to backends.

Everything that lists models (the CLI's choices, the site's forms, badges, ``/models``,
``/stats``, the API) reads this registry, so adding a model is one module with a
``Predictor`` subclass plus one ``register`` call. Classes are named by import path and
imported on first use: listing the kinds loads no model code.
"""

from __future__ import annotations

import importlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from ml.errors import ArtifactError, UsageError
from ml.paths import MODELS_DIR, display_path
from ml.predictor import Predictor, ServingOptions

DEFAULT_MISSING = "The {label} model is not available ({folder} holds no artifact). Build it with: {rebuild}"


@dataclass(frozen=True)
class ModelKind:
    name: str  # the folder under models/ and the value in forms, the API and stored answers
    label: str  # for people
    description: str  # one line: what it is and what it is good at
    predictor: str  # "module:Class", a Predictor subclass
    rebuild: str  # the command that (re)builds its artifact
    colour: str  # badge and panel accent, a CSS colour
    missing: str = DEFAULT_MISSING  # what to say while the model folder is empty
    purpose: str = ""  # a few words on what it does for a person, beside its label where one chooses
    # False: the command line trains and uses it, the site does not offer it yet (nor do the
    # benches that compare the site's models).
    served: bool = True

    def predictor_class(self) -> type[Predictor]:
        module, _, name = self.predictor.partition(":")
        found = getattr(importlib.import_module(module), name)
        if not (isinstance(found, type) and issubclass(found, Predictor)):
            raise TypeError(f"{self.predictor} is not a Predictor subclass")
        return found

    def missing_message(self, folder: Path) -> str:
        return self.missing.format(label=self.label.lower(), folder=display_path(folder), rebuild=self.rebuild)


_KINDS: dict[str, ModelKind] = {}


def register(kind: ModelKind) -> ModelKind:
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def kinds(include_unserved: bool = False) -> list[ModelKind]:
    """The kinds the site offers; ``include_unserved`` adds those only the command line uses."""
    return [kind for kind in _KINDS.values() if kind.served or include_unserved]


def model_names(include_unserved: bool = False) -> tuple[str, ...]:
    return tuple(kind.name for kind in kinds(include_unserved))


def get_kind(name: str) -> ModelKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise UsageError(f"unknown model {name!r}; choose one of {', '.join(_KINDS)}") from None


def model_dir(name: str, models_dir: Path | str | None = None) -> Path:
    get_kind(name)
    return Path(models_dir or MODELS_DIR) / name


def rebuild_hint(name: str) -> str:
    return get_kind(name).rebuild


# Loaded models by (name, folder, metadata file's mtime and size, options): the ensemble and
# the site ask for the same members, and each should be held once per process.
_LOADED: OrderedDict[tuple, Predictor] = OrderedDict()
_LOADED_MAX = 16
_LOADING = threading.RLock()


def load_predictor(name: str, models_dir: Path | str | None = None, options: ServingOptions | None = None) -> Predictor:
    """The model saved under ``models_dir/name``, loaded once per process while its
    artifact is unchanged (a new artifact has a new metadata file, so it loads afresh)."""
    kind = get_kind(name)
    folder = model_dir(name, models_dir)
    metadata = folder / "metadata.json"
    try:
        stat = metadata.stat()
    except OSError:
        raise ArtifactError(kind.missing_message(folder)) from None
    predictor_class = kind.predictor_class()
    if options is not None and not predictor_class.grows_labels:
        options = replace(options, scope=None)  # read-only models are shared by every scope
    key = (name, str(folder.resolve()), stat.st_mtime_ns, stat.st_size, options)
    with _LOADING:
        if key in _LOADED:
            _LOADED.move_to_end(key)
            return _LOADED[key]
        predictor = predictor_class.load(folder, options)
        _LOADED[key] = predictor
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
        return predictor


register(
    ModelKind(
        name="baseline",
        label="Baseline",
        description=(
            "TF-IDF over word 1-2-grams and character 2-5-grams, one logistic regression per tag. "
            "Fast (milliseconds on a CPU) and transparent: its scores read as probabilities, and each tag "
            "has its own threshold tuned on validation data."
        ),
        predictor="ml.backends.baseline:TfidfBaseline",
        rebuild="python -m ml train --model baseline",
        colour="#1d4ed8",
        purpose="the 100 most used tags, fast",
        missing="The baseline model is not trained yet ({folder} is empty). Train it with: {rebuild}",
    )
)
register(
    ModelKind(
        name="transformer",
        label="Transformer",
        description=(
            "A fine-tuned MiniLM sentence encoder (all-MiniLM-L6-v2) with a head over every tag with enough "
            "examples, learned from every bundled source, served int8 with onnxruntime. It reads the question "
            "as a sequence, so it can pick up meaning that word counts miss, at a higher cost per question."
        ),
        predictor="ml.backends.transformer.serving:OnnxTagger",
        rebuild="make train-transformer",
        colour="#7e22ce",
        purpose="reads the question's meaning",
    )
)
register(
    ModelKind(
        name="omikuji",
        label="Open vocabulary",
        description=(
            "TF-IDF features and an Omikuji (Bonsai) label tree over every tag with enough examples in real, "
            "completely tagged questions: thousands of tags where the baseline knows 100, in about a millisecond."
        ),
        predictor="ml.backends.omikuji:OmikujiTagger",
        rebuild="python -m ml train --model omikuji",
        colour="#047857",
        purpose="thousands of tags, in a millisecond",
    )
)
register(
    ModelKind(
        name="lexical",
        label="Lexical",
        description=(
            "Finds tag names, synonyms and aliases from the Stack Overflow catalogue in the title, prose and code "
            "(react hooks, k8s, import polars) and scores each with a small model learned on real questions. "
            "It can suggest tags no classifier has examples of."
        ),
        predictor="ml.backends.lexical:LexicalMatcher",
        rebuild="python -m ml train --model lexical",
        colour="#b45309",
        purpose="finds tag names in the question",
    )
)
register(
    ModelKind(
        name="memory",
        label="Reviewed questions",
        description=(
            "Remembers questions with their right tags and suggests the tags of the most similar ones "
            "(TF-IDF nearest neighbours). It learns from every saved review at once, including tags it has never "
            "seen, and each suggestion names the questions that caused it."
        ),
        predictor="ml.backends.memory:ReviewMemory",
        rebuild="python -m ml train --model memory",
        colour="#0e7490",
        purpose="tags of similar reviewed questions",
    )
)
register(
    ModelKind(
        name="ensemble",
        label="Ensemble",
        description=(
            "Combines the lexical matcher, the open-vocabulary tree, the transformer, the 100-tag baseline and the "
            "memory of reviewed questions, tag by tag, with a combiner learned on held-out real questions. "
            "The site's default: the best of each model."
        ),
        predictor="ml.backends.ensemble:EnsembleTagger",
        rebuild="python -m ml train --model ensemble",
        colour="#be123c",
        purpose="the best of all models",
        missing="The ensemble is not built yet ({folder} is empty). Build it, after its members, with: {rebuild}",
    )
)
