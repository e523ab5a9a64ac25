"""TF-IDF + one-vs-rest logistic regression: the fast, transparent baseline.

Word 1-2-grams carry the vocabulary (tag-like tokens intact, see ``ml.text``); character
2-5-grams within word boundaries catch spelling variants and unseen compounds ("jqueryui",
"ngrepeat"). Logistic regression gives scores that read as probabilities, which the site
shows to people. Each tag's weights land in one float32 matrix, so 1,000 tags x 250k
features cost 1 GB instead of 1,000 separate estimator objects.

It follows scikit-learn's estimator conventions (``__init__`` only stores its parameters,
``get_params``/``set_params`` come from ``BaseEstimator``, what ``fit`` learns ends in
``_``). Serving imports only the vectorizers; the solvers are imported by ``fit``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer

from ml.artifacts import library_versions, open_artifact, restored_params, save_artifact, unreadable
from ml.cli_types import ngram_range, positive_int
from ml.errors import ArtifactError
from ml.paths import DEFAULT_DATA
from ml.predictor import Predictor, Reason, ServingOptions, TrainOptions, sigmoid
from ml.registry import rebuild_hint
from ml.text import TOKEN_PATTERN

if TYPE_CHECKING:
    from ml.data.sources import Corpus
    from ml.training.from_file import Dataset

VECTORIZERS_FILE = "vectorizers.joblib"
WEIGHTS_FILE = "weights.npz"
# A score of sigmoid(-12) ~ 6e-6: what a tag never seen in training gets.
NEVER_SEEN_LOGIT = -12.0
REASON_WORDS = 3  # the strongest words shown per tag
SOLVERS = ("liblinear", "sgd")
# Above this many training questions the large-data profile applies: liblinear costs several
# times what SGD does per tag, and character n-grams multiply the feature matrix for little gain
# (bench/scale.py).
LARGE_DATA_ROWS = 300_000
# The parameters that define a trained model (recorded in its metadata); n_jobs and
# progress only change how fast and how visibly it is trained.
MODEL_PARAMS = ("word_ngrams", "char_ngrams", "C", "min_df", "max_features", "solver")


def profile_for(n_train: int) -> dict[str, Any]:
    """The settings "auto" resolves to for a training set of this size."""
    if n_train > LARGE_DATA_ROWS:
        return {"char_ngrams": None, "solver": "sgd"}
    return {"char_ngrams": (2, 5), "solver": "liblinear"}


def resolve_auto(char_ngrams: Any, solver: str, n_train: int) -> dict[str, Any]:
    """Replace each "auto" setting by what the training-set size calls for."""
    profile = profile_for(n_train)
    return {
        "char_ngrams": profile["char_ngrams"] if char_ngrams == "auto" else char_ngrams,
        "solver": profile["solver"] if solver == "auto" else solver,
    }


class TfidfBaseline(BaseEstimator, Predictor):
    name = "baseline"

    def __init__(
        self,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] | None = (2, 5),
        C: float = 4.0,
        min_df: int = 2,
        max_features: int | None = None,
        solver: str = "liblinear",
        n_jobs: int = 2,
        progress: bool = False,
    ):
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.C = C
        self.min_df = min_df
        self.max_features = max_features
        self.solver = solver
        self.n_jobs = n_jobs
        self.progress = progress

    def _new_vectorizers(self) -> list[TfidfVectorizer]:
        common: dict[str, Any] = dict(sublinear_tf=True, dtype=np.float64, max_features=self.max_features)
        vectorizers = [
            TfidfVectorizer(
                ngram_range=tuple(self.word_ngrams), token_pattern=TOKEN_PATTERN, min_df=self.min_df, **common
            )
        ]
        if self.char_ngrams:
            vectorizers.append(
                TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngrams), min_df=self.min_df, **common)
            )
        return vectorizers

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        blocks = [vectorizer.transform(texts) for vectorizer in self.vectorizers_]
        features = sparse.hstack(blocks, format="csr")
        features.sort_indices()
        return features

    def fit(self, texts: Sequence[str], label_matrix: Any, labels: Sequence[str]) -> TfidfBaseline:
        """``label_matrix``: (n_texts, n_labels) 0/1 matrix, columns in ``labels`` order."""
        from joblib import Parallel, delayed
        from tqdm.auto import tqdm

        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        texts = list(texts)
        labels = list(labels)
        y = sparse.csc_matrix(label_matrix, dtype=np.int8)
        if y.shape != (len(texts), len(labels)):
            raise ValueError(f"label matrix shape {y.shape} does not match {len(texts)} texts x {len(labels)} labels")
        self.labels_ = labels
        self.vectorizers_ = self._new_vectorizers()
        features = sparse.hstack([v.fit_transform(texts) for v in self.vectorizers_], format="csr")
        features.sort_indices()

        n_labels = len(labels)
        self.weights_ = np.zeros((features.shape[1], n_labels), dtype=np.float32)
        self.intercepts_ = np.zeros(n_labels, dtype=np.float32)

        def fit_one(j: int) -> None:
            target = y[:, j].toarray().ravel()
            if target.all() or not target.any():
                self.intercepts_[j] = -NEVER_SEEN_LOGIT if target.all() else NEVER_SEEN_LOGIT
                return
            model = self._new_classifier(features.shape[0])
            model.fit(features, target)
            self.weights_[:, j] = model.coef_[0]
            self.intercepts_[j] = model.intercept_[0]

        jobs = tqdm(range(n_labels), desc="baseline: tags", unit="tag", disable=not self.progress)
        # liblinear releases the GIL, so threads share one copy of the feature matrix.
        Parallel(n_jobs=self.n_jobs, backend="threading")(delayed(fit_one)(j) for j in jobs)
        self.thresholds_ = np.full(n_labels, 0.5)
        return self

    def _new_classifier(self, n_rows: int) -> Any:
        from sklearn.linear_model import LogisticRegression, SGDClassifier

        if self.solver == "sgd":
            # alpha = 1 / (C n) is the same L2 penalty as LogisticRegression's C.
            return SGDClassifier(loss="log_loss", alpha=1.0 / (self.C * n_rows), max_iter=5, tol=None, random_state=0)
        # The dual solver is faster than the primal here (more features than rows).
        return LogisticRegression(C=self.C, solver="liblinear", dual=True, max_iter=1000)

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        # float32 on both sides: a float64 matrix would make scipy upcast all the weights
        # (100 tags x 116k features) on every call, most of a prediction's time.
        logits = self.transform(list(texts)).astype(np.float32) @ self.weights_ + self.intercepts_
        return sigmoid(logits)

    def reasons(self, text: str, tags: Sequence[str]) -> dict[str, list[Reason]]:
        """The word n-grams (prose or code tokens) that raised each tag's logit most: tf-idf
        weight times the tag's coefficient. Character n-grams are left out: a dozen
        overlapping fragments of one word explain nothing a reader can check."""
        column = {tag: j for j, tag in enumerate(self.labels_)}
        wanted = [(tag, column[tag]) for tag in tags if tag in column]
        if not wanted:
            return {}
        # The word block alone: each vectoriser normalises its own block, so these are the
        # values the model reads, without the character n-grams' pass.
        row = self.vectorizers_[0].transform([text]).tocsr()
        row.sort_indices()
        indices, values = row.indices, row.data
        names = self._word_names()
        found: dict[str, list[Reason]] = {}
        for tag, j in wanted:
            contributions = values * self.weights_[indices, j]
            best = np.argsort(-contributions, kind="stable")[:REASON_WORDS]
            reasons = [
                {"kind": "words", "text": str(names[indices[i]]), "weight": round(float(contributions[i]), 3)}
                for i in best
                if contributions[i] > 0
            ]
            if reasons:
                found[tag] = reasons
        return found

    def _word_names(self) -> np.ndarray:
        # Built on first use (~100k strings): serving never needs them unless asked why.
        names = getattr(self, "word_names_", None)
        if names is None:
            names = self.word_names_ = self.vectorizers_[0].get_feature_names_out()
        return names

    # -- training from the command line ----------------------------------------------------

    @classmethod
    def add_train_arguments(cls, group: argparse._ArgumentGroup) -> None:
        add_profile_arguments(group)
        group.add_argument("--word-ngrams", type=ngram_range, default=(1, 2), help="word n-gram range (default: 1-2)")
        group.add_argument(
            "--C", type=float, default=4.0, help="inverse regularisation strength (default: %(default)s)"
        )
        group.add_argument(
            "--min-df", type=positive_int, default=2, help="ignore n-grams in fewer documents (default: %(default)s)"
        )
        group.add_argument("--max-features", type=positive_int, help="cap on features per vectorizer")
        group.add_argument("--jobs", type=positive_int, default=2, help="parallel threads (default: %(default)s)")

    @classmethod
    def from_options(cls, params: dict[str, Any], n_train: int, progress: bool = False) -> TfidfBaseline:
        """The model the CLI's options describe; options a command lacks keep the defaults."""
        given = {name: params[option] for option, name in CLI_OPTIONS.items() if params.get(option) is not None}
        auto = resolve_auto(params.get("char_ngrams", "auto"), params.get("solver", "auto"), n_train)
        return cls(**given, **auto, progress=progress)

    @classmethod
    def train(cls, dataset: Dataset, options: TrainOptions) -> dict[str, Any]:
        from ml.training.from_file import fit_and_evaluate, version_stamp

        model = cls.from_options(options.params, len(dataset.split.train), progress=options.progress)
        model, metadata = fit_and_evaluate(model, dataset, seed=options.seed)
        if Path(options.params.get("data") or DEFAULT_DATA) == DEFAULT_DATA:
            # Scored where every other model is, so the site compares like with like.
            metadata["metrics"]["open_test"] = open_test(model)
        metadata.update(version_stamp(cls.name, dataset), rebuild_command=options.command or rebuild_hint(cls.name))
        model.save(options.output, metadata)
        return model.metadata

    @classmethod
    def training_notes(cls, metadata: dict[str, Any]) -> list[str]:
        return [f"fit in {metadata['train_seconds']:.1f} s"]

    # -- artifact -----------------------------------------------------------------------

    def artifact_params(self) -> dict[str, Any]:
        """The defining parameters, as JSON: n-gram ranges as lists."""
        params = self.get_params()
        return {name: list(params[name]) if isinstance(params[name], tuple) else params[name] for name in MODEL_PARAMS}

    def save(self, folder: Path, metadata: dict[str, Any]) -> Path:
        metadata = dict(
            metadata,
            model=self.name,
            labels=self.labels_,
            params=self.artifact_params(),
            thresholds={"per_tag": [float(t) for t in self.thresholds_], **metadata.get("thresholds", {})},
            library_versions=library_versions("scikit-learn", "numpy", "scipy", "joblib"),
            rebuild_command=metadata.get("rebuild_command", rebuild_hint(self.name)),
        )
        writers = {
            VECTORIZERS_FILE: lambda path: joblib.dump(self.vectorizers_, path),
            WEIGHTS_FILE: lambda path: np.savez(path, weights=self.weights_, intercepts=self.intercepts_),
        }
        save_artifact(folder, writers, metadata)
        self.metadata = metadata
        return Path(folder)

    @classmethod
    def load(cls, folder: Path, options: ServingOptions | None = None) -> TfidfBaseline:
        import sklearn

        folder = Path(folder)
        hint = rebuild_hint(cls.name)
        metadata = open_artifact(folder, cls.name, hint, {"scikit-learn": sklearn.__version__})
        model = cls(**restored_params(metadata))
        try:
            model.vectorizers_ = joblib.load(folder / VECTORIZERS_FILE)
            with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as arrays:
                model.weights_ = arrays["weights"]
                model.intercepts_ = arrays["intercepts"]
        except Exception as error:  # any unpickling failure means the same thing to a user
            raise unreadable(folder, error, hint) from error
        model.labels_ = list(metadata["labels"])
        model.thresholds_ = np.asarray(metadata["thresholds"]["per_tag"], dtype=np.float64)
        if model.weights_.shape[1] != len(model.labels_) or len(model.thresholds_) != len(model.labels_):
            raise ArtifactError(f"{folder} is inconsistent: weights, labels and thresholds disagree in size")
        model.metadata = metadata
        return model


# CLI option (argparse dest) -> TfidfBaseline parameter
CLI_OPTIONS = {
    "word_ngrams": "word_ngrams",
    "C": "C",
    "min_df": "min_df",
    "max_features": "max_features",
    "jobs": "n_jobs",
}


def add_profile_arguments(group: argparse._ArgumentGroup) -> None:
    """The options ``train`` and ``experiment`` share: what "auto" decides by data size."""
    group.add_argument(
        "--char-ngrams",
        type=ngram_range,
        default="auto",
        help=f"character n-gram range, e.g. 2-5; 'off'; 'auto' = 2-5 up to {LARGE_DATA_ROWS:,} training questions, "
        "off above (default: %(default)s)",
    )
    group.add_argument(
        "--solver",
        default="auto",
        choices=("auto", *SOLVERS),
        help=f"'liblinear' (exact, slow per tag on very large data) or 'sgd' (5 epochs, faster); 'auto' = liblinear "
        f"up to {LARGE_DATA_ROWS:,} training questions (default: %(default)s)",
    )


def open_test(model: Predictor, corpus: Corpus | None = None) -> dict[str, Any]:
    """``model``'s metrics on the open questions' test part, every real tag counted (one it
    cannot give is a miss): the held-out questions the open-vocabulary models are scored on."""
    from ml.data.sources import load_corpus
    from ml.training.open_corpus import evaluate_model

    return evaluate_model(model.predict_scores, model.labels, model.thresholds, corpus or load_corpus(), "test")
