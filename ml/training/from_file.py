"""From a data file to a saved, evaluated model: read, select labels, split, fit, tune, test."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from sklearn.metrics import f1_score
from tqdm.auto import tqdm

from ml.artifacts import utc_now
from ml.data.labels import select_labels
from ml.data.readers import read_questions
from ml.data.records import Question, ReadReport
from ml.data.split import Split, data_hash, label_matrix, make_or_load_split
from ml.errors import DataError
from ml.evaluate import evaluate
from ml.paths import DEFAULT_DATA, SPLITS_DIR, display_path, project_path
from ml.predictor import DEFAULT_TOP_K, decide
from ml.text import question_text
from ml.thresholds import tune_thresholds


class ClosedModel(Protocol):
    """A model over a fixed label set that ``fit_and_evaluate`` trains: fit on texts and a
    label matrix (the baseline; described here so this module does not import it)."""

    labels: list[str]
    thresholds: np.ndarray

    def fit(self, texts: Sequence[str], targets: Any, labels: Sequence[str]) -> Any: ...

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray: ...


Model = TypeVar("Model", bound=ClosedModel)


@dataclass
class Dataset:
    questions: list[Question]
    labels: list[str]
    split: Split
    report: ReadReport
    selection: dict
    source: str
    format: str = "auto"

    def texts(self, part: str | None = None) -> list[str]:
        indices = range(len(self.questions)) if part is None else getattr(self.split, part)
        return [question_text(self.questions[i].title, self.questions[i].body) for i in indices]

    def targets(self, part: str):
        y, _ = label_matrix([self.questions[i].tags for i in getattr(self.split, part)], self.labels)
        return y

    def describe(self) -> dict:
        return {
            "source": self.source,
            "format": self.format,
            "data_hash": self.split.data_hash,
            "read": self.report.to_dict(),
            "selection": self.selection,
            "split": {part: int(len(getattr(self.split, part))) for part in ("train", "validation", "test")},
            "split_seed": self.split.seed,
        }


def load_dataset(
    path: Path | str = DEFAULT_DATA,
    fmt: str = "auto",
    top_n: int | None = None,
    min_count: int = 1,
    top_combinations: int | None = None,
    seed: int = 0,
    splits_dir: Path | None = SPLITS_DIR,
    progress: bool = False,
) -> Dataset:
    path = Path(path)
    report = ReadReport(source=display_path(path))
    rows = read_questions(path, fmt=fmt, report=report)
    questions = list(tqdm(rows, desc=f"reading {path.name}", unit=" questions", disable=not progress, mininterval=1))
    selection = select_labels(questions, top_n=top_n, min_count=min_count, top_combinations=top_combinations)
    if len(selection.questions) < 3 or not selection.labels:
        raise DataError(f"{path}: only {len(selection.questions)} usable questions after label selection")
    digest = data_hash(selection.questions)
    split_path = None
    if splits_dir is not None:
        split_path = Path(splits_dir) / f"{path.stem}-{digest[:12]}-seed{seed}.json"
    split = make_or_load_split(selection.questions, path=split_path, seed=seed)
    return Dataset(selection.questions, selection.labels, split, report, selection.stats, display_path(path), fmt)


def model_dataset(
    metadata: dict, data: Path | str | None = None, splits_dir: Path | None = SPLITS_DIR, progress: bool = False
) -> Dataset:
    """The data set a model was trained on, split exactly as it was: the source, label
    selection and seed recorded in its metadata, checked against the recorded data hash.
    ``data`` overrides where the file lives now (the same data, moved)."""
    name = metadata.get("model", "model")
    recorded = metadata.get("dataset") or {}
    if not recorded.get("data_hash") or not recorded.get("source"):
        raise DataError(f"the {name} model's metadata records no training data, so its split cannot be rebuilt")
    selection = recorded.get("selection") or {}
    path = Path(data) if data is not None else project_path(recorded["source"])
    dataset = load_dataset(
        path,
        fmt=recorded.get("format", "auto"),
        top_n=selection.get("top_n"),
        min_count=selection.get("min_count") or 1,
        top_combinations=selection.get("top_combinations"),
        seed=recorded.get("split_seed", 0),
        splits_dir=splits_dir,
        progress=progress,
    )
    if dataset.split.data_hash != recorded["data_hash"] or dataset.labels != list(metadata.get("labels", [])):
        raise DataError(
            f"{display_path(path)} no longer matches the data the {name} model was trained on "
            f"(data hash {dataset.split.data_hash[:12]}, recorded {recorded['data_hash'][:12]}); "
            f"pass --data with the original file, or retrain the model"
        )
    return dataset


def version_stamp(model: str, dataset: Dataset) -> dict[str, str]:
    """When a model was made and the version name its answers are stored with."""
    created = utc_now()
    return {"created": created, "model_version": f"{model}-{created[:10]}-{dataset.split.data_hash[:8]}"}


def balanced_f1(y_true, y_pred) -> float:
    """The threshold-tuning objective: micro-F1 rewards frequent tags, macro-F1 rare ones."""
    micro = f1_score(y_true, y_pred, average="micro", zero_division=0)
    macro = f1_score(y_true, y_pred, average="macro", zero_division=0)
    return (micro + macro) / 2


def serving_rule(top_k: int = DEFAULT_TOP_K):
    return lambda scores, thresholds: decide(scores, thresholds, top_k=top_k)


def tune_on_validation(model: ClosedModel, dataset: Dataset, seed: int = 0) -> dict:
    scores = model.predict_scores(dataset.texts("validation"))
    tuned = tune_thresholds(dataset.targets("validation"), scores, serving_rule(), balanced_f1, seed=seed)
    model.thresholds = tuned["per_tag"]
    return {
        "global": tuned["global"],
        "shrinkage": tuned["shrinkage"],
        "cv_objective": tuned["cv_objective"],
        "validation": evaluate_scores(dataset.targets("validation"), scores, model.thresholds, model.labels),
    }


def evaluate_scores(
    y_true,
    scores: np.ndarray,
    thresholds,
    labels: Sequence[str],
    unknown_gold_tags: int = 0,
    top_k: int = DEFAULT_TOP_K,
    ensure_one: bool = True,
) -> dict:
    """Metrics of the serving rule (thresholds, top-k cap, top-1 fallback) on these scores."""
    predicted = decide(scores, thresholds, top_k=top_k, ensure_one=ensure_one)
    return evaluate(y_true, predicted, scores=scores, labels=list(labels), unknown_gold_tags=unknown_gold_tags)


def fit_and_evaluate(model: Model, dataset: Dataset, seed: int = 0) -> tuple[Model, dict]:
    """Fit on train, tune thresholds on validation, score once on test. Returns the
    metadata the artifact records (timings, thresholds, metrics)."""
    started = time.perf_counter()
    model.fit(dataset.texts("train"), dataset.targets("train"), dataset.labels)
    fit_seconds = time.perf_counter() - started
    tuning = tune_on_validation(model, dataset, seed=seed)
    test_metrics = evaluate_scores(
        dataset.targets("test"), model.predict_scores(dataset.texts("test")), model.thresholds, model.labels
    )
    metadata = {
        "dataset": dataset.describe(),
        "train_seconds": round(fit_seconds, 2),
        "thresholds": {
            "global": tuning["global"],
            "shrinkage": tuning["shrinkage"],
            "cv_objective": tuning["cv_objective"],
        },
        "metrics": {"validation": tuning["validation"], "test": test_metrics},
    }
    return model, metadata
