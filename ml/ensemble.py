"""The ensemble: a weighted mean of the other models' scores, tag by tag.

Each member scores the tags it knows; the ensemble averages, for each tag, the scores of
the members that know it, weighted. A tag only the lexical matcher knows keeps its
lexical score; ``python``, known to every member, gets their weighted agreement. The
weights and the threshold are chosen on the validation questions whose whole tag set is
known, for all-tag micro-F1, by coordinate ascent over a small grid.

Members are loaded through the registry's shared loader, so a site serving the ensemble
beside its members holds each model once.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .artifacts import library_versions, open_artifact, save_artifact
from .catalogue import load_catalogue
from .errors import ArtifactError, ModelUnavailable
from .predictor import Predictor, ServingOptions, TrainOptions
from .registry import load_predictor, rebuild_hint

if TYPE_CHECKING:
    from .data.sources import Corpus

DEFAULT_MEMBERS = ("lexical", "omikuji", "baseline", "transformer")
WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
ROUNDS = 3
# Each member's best tags that take part in the choice of weights (the rest score ~0).
MEMBER_TOP = 20


class EnsembleTagger(Predictor):
    name = "ensemble"
    training_data = "corpus"

    def __init__(self, members: dict[str, Predictor], weights: dict[str, float]):
        self.members = {name: model for name, model in members.items() if weights.get(name, 0) > 0}
        self.weights = {name: float(weights[name]) for name in self.members}
        catalogue = load_catalogue()
        union: dict[str, int] = {}
        self.columns_: dict[str, np.ndarray] = {}
        self.keep_: dict[str, np.ndarray] = {}  # member columns used: the first of labels sharing a name
        for name, model in self.members.items():
            first: dict[str, int] = {}
            for j, tag in enumerate(model.labels):  # osx and macos are one tag today
                first.setdefault(catalogue.canonical(tag), j)
            for tag in first:
                union.setdefault(tag, len(union))
            self.keep_[name] = np.array(list(first.values()), dtype=np.int64)
            self.columns_[name] = np.array([union[tag] for tag in first], dtype=np.int64)
        self.labels = list(union)
        known = np.zeros(len(self.labels))
        for name, columns in self.columns_.items():
            np.add.at(known, columns, self.weights[name])
        self.known_weight_ = np.maximum(known, 1e-12)
        self.thresholds = np.full(len(self.labels), 0.5)

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        total = np.zeros((len(texts), len(self.labels)))
        for name, model in self.members.items():
            scores = model.predict_scores(texts)
            total[:, self.columns_[name]] += self.weights[name] * scores[:, self.keep_[name]]
        return total / self.known_weight_

    # -- training: weights and threshold chosen on validation ----------------------------------

    @classmethod
    def add_train_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(
            "--members",
            default=",".join(DEFAULT_MEMBERS),
            help="comma-separated models to combine, each already trained (default: %(default)s)",
        )

    @classmethod
    def train(cls, dataset: Any, options: TrainOptions) -> dict[str, Any]:
        from .open_train import gold_sets, texts, tune_test_save

        corpus: Corpus = dataset
        names = [name.strip() for name in str(options.params.get("members") or ",".join(DEFAULT_MEMBERS)).split(",")]
        models_dir = options.output.parent
        members = {}
        for name in names:
            try:
                members[name] = load_predictor(name, models_dir)
            except ModelUnavailable as error:
                raise ModelUnavailable(
                    f"the ensemble needs the {name} model first: {error}", {name: str(error)}
                ) from error
        started = time.perf_counter()
        validation = corpus.complete("validation")
        weights, search = choose_weights(members, texts(corpus, validation), gold_sets(corpus, validation))
        model = cls(members, weights)
        return tune_test_save(
            model,
            corpus,
            options,
            time.perf_counter() - started,
            member_versions={name: members[name].version for name in model.members},
            weights=model.weights,
            weight_search=search,
        )

    @classmethod
    def training_notes(cls, metadata: dict[str, Any]) -> list[str]:
        weights = ", ".join(f"{name} {weight:g}" for name, weight in metadata["weights"].items())
        return [f"weights {weights}", f"{len(metadata['labels'])} tags"]

    # -- artifact: the weights and threshold; the members are models of their own ----------------

    def save(self, folder: Path, metadata: dict[str, Any]) -> Path:
        metadata = dict(
            metadata,
            model=self.name,
            labels=self.labels,
            weights=self.weights,
            thresholds={"per_tag": [], **metadata.get("thresholds", {})},
            library_versions=library_versions("numpy"),
        )
        save_artifact(folder, {}, metadata)
        self.metadata = metadata
        return Path(folder)

    @classmethod
    def load(cls, folder: Path, options: ServingOptions | None = None) -> EnsembleTagger:
        folder = Path(folder)
        hint = rebuild_hint(cls.name)
        metadata = open_artifact(folder, cls.name, hint, {})
        members = {}
        for name, version in metadata.get("member_versions", {}).items():
            try:
                member = load_predictor(name, folder.parent, options)
            except ModelUnavailable as error:
                raise ArtifactError(f"the ensemble's {name} member is not available: {error}") from error
            if member.version != version:
                raise ArtifactError(
                    f"the ensemble was built on {version}, but the {name} model is now {member.version}; "
                    f"rebuild it with: {hint}"
                )
            members[name] = member
        model = cls(members, metadata["weights"])
        if model.labels != list(metadata["labels"]):
            raise ArtifactError(f"{folder} is inconsistent with its members' labels; rebuild it with: {hint}")
        model.thresholds = np.full(len(model.labels), float(metadata["thresholds"]["global"]))
        model.metadata = metadata
        return model


def choose_weights(
    members: dict[str, Predictor], inputs: list[str], gold: list[set[str]]
) -> tuple[dict[str, float], list[dict]]:
    """Coordinate ascent over ``WEIGHT_GRID`` for the best all-tag micro-F1 on validation
    (each try with its own best threshold); returns the weights and the search's trace."""
    table = CandidateTable.build(members, inputs, gold)
    weights = {name: 1.0 for name in members}
    best = table.best_f1(weights)[0]
    trace = [{"weights": dict(weights), "micro_f1": round(best, 4)}]
    for _ in range(ROUNDS):
        improved = False
        for name in members:
            for value in WEIGHT_GRID:
                trial = dict(weights, **{name: value})
                if value == weights[name] or not any(trial.values()):
                    continue
                score = table.best_f1(trial)[0]
                if score > best + 1e-4:
                    weights, best, improved = trial, score, True
                    trace.append({"weights": dict(weights), "micro_f1": round(best, 4)})
        if not improved:
            break
    return weights, trace


class CandidateTable:
    """Each validation question's candidate tags (the union of the members' best ones) with
    every member's score and whether the member knows the tag, as dense (questions x
    candidates) arrays, so one weighting is scored in a few vectorised operations."""

    def __init__(self, scores: dict[str, np.ndarray], known: dict[str, np.ndarray], hits: np.ndarray, n_gold: int):
        self.scores, self.known, self.hits, self.n_gold = scores, known, hits, n_gold

    @classmethod
    def build(cls, members: dict[str, Predictor], inputs: list[str], gold: list[set[str]]) -> CandidateTable:
        from .open_train import top_scores

        catalogue = load_catalogue()
        best: dict[str, list[dict[str, float]]] = {}
        vocabularies: dict[str, set[str]] = {}
        for name, model in members.items():
            labels = [catalogue.canonical(tag) for tag in model.labels]
            vocabularies[name] = set(labels)
            columns, values = top_scores(model.predict_scores, inputs, MEMBER_TOP)
            best[name] = [
                {labels[j]: float(v) for j, v in reversed(list(zip(row_columns, row_values, strict=True))) if v > 0}
                for row_columns, row_values in zip(columns, values, strict=True)
            ]
        candidates = [sorted(set().union(*(best[name][r] for name in members))) for r in range(len(inputs))]
        width = max(1, max(len(row) for row in candidates))
        shape = (len(inputs), width)
        scores = {name: np.zeros(shape) for name in members}
        known = {name: np.zeros(shape) for name in members}
        hits = np.zeros(shape, dtype=bool)
        for r, row in enumerate(candidates):
            for k, tag in enumerate(row):
                hits[r, k] = tag in gold[r]
                for name in members:
                    scores[name][r, k] = best[name][r].get(tag, 0.0)
                    known[name][r, k] = tag in vocabularies[name]
        return cls(scores, known, hits, sum(len(g) for g in gold))

    def best_f1(self, weights: dict[str, float], top_k: int = 5) -> tuple[float, float]:
        """(all-tag micro-F1, threshold) of this weighting under the serving rule."""
        from .open_train import THRESHOLD_GRID

        total = sum(weights[name] * self.scores[name] for name in self.scores)
        norm = sum(weights[name] * self.known[name] for name in self.known)
        combined = np.divide(total, norm, out=np.zeros_like(total), where=norm > 0)
        order = np.argsort(-combined, axis=1, kind="stable")[:, :top_k]
        values = np.take_along_axis(combined, order, axis=1)
        hits = np.take_along_axis(self.hits, order, axis=1)
        best = (-1.0, 0.5)
        for threshold in THRESHOLD_GRID:
            passed = values >= threshold
            passed[:, 0] |= ~passed.any(axis=1)  # the top-1 fallback
            true_positives = (passed & hits).sum()
            f1 = 2 * true_positives / (passed.sum() + self.n_gold)
            if f1 > best[0]:
                best = (float(f1), float(threshold))
        return best
