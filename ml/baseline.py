"""TF-IDF + one-vs-rest logistic regression: the fast, transparent baseline.

Word 1-2-grams carry the vocabulary (tag-like tokens intact, see ``ml.text``); character
2-5-grams within word boundaries catch spelling variants and unseen compounds ("jqueryui",
"ngrepeat"). Logistic regression gives scores that read as probabilities, which the site
shows to people. Each tag's weights land in one float32 matrix, so 1,000 tags x 250k
features cost 1 GB instead of 1,000 separate estimator objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from tqdm.auto import tqdm

from .artifacts import ArtifactError, library_versions, load_metadata, save_artifact, verify_artifact
from .predictor import Predictor
from .text import TOKEN_PATTERN

VECTORIZERS_FILE = "vectorizers.joblib"
WEIGHTS_FILE = "weights.npz"
REBUILD = "python -m ml train --model baseline"
# A score of sigmoid(-12) ~ 6e-6: what a tag never seen in training gets.
NEVER_SEEN_LOGIT = -12.0
SOLVERS = ("liblinear", "sgd")
# Above this many training questions the large-data profile applies: liblinear costs
# ~10 s per tag on 1M rows (2.8 h for 1,000 tags on 2 cores) where SGD costs ~2.5 s, and
# character n-grams multiply the feature matrix ~10x for little gain (bench/scale.py).
LARGE_DATA_ROWS = 300_000


def profile_for(n_train: int) -> dict:
    """The settings "auto" resolves to for a training set of this size."""
    if n_train > LARGE_DATA_ROWS:
        return {"char_ngrams": None, "solver": "sgd"}
    return {"char_ngrams": (2, 5), "solver": "liblinear"}


class TfidfBaseline(Predictor):
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
        self.word_ngrams = tuple(word_ngrams)
        self.char_ngrams = tuple(char_ngrams) if char_ngrams else None
        self.C = C
        self.min_df = min_df
        self.max_features = max_features
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        self.solver = solver
        self.n_jobs = n_jobs
        self.progress = progress
        self.metadata: dict = {}

    def get_params(self) -> dict:
        return {
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams) if self.char_ngrams else None,
            "C": self.C,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "solver": self.solver,
        }

    def _new_vectorizers(self) -> list[TfidfVectorizer]:
        common = dict(sublinear_tf=True, dtype=np.float64, max_features=self.max_features)
        vectorizers = [
            TfidfVectorizer(ngram_range=self.word_ngrams, token_pattern=TOKEN_PATTERN, min_df=self.min_df, **common)
        ]
        if self.char_ngrams:
            vectorizers.append(
                TfidfVectorizer(analyzer="char_wb", ngram_range=self.char_ngrams, min_df=self.min_df, **common)
            )
        return vectorizers

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        blocks = [vectorizer.transform(texts) for vectorizer in self.vectorizers_]
        features = sparse.hstack(blocks, format="csr")
        features.sort_indices()
        return features

    def fit(self, texts: Sequence[str], label_matrix, labels: Sequence[str]) -> TfidfBaseline:
        """``label_matrix``: (n_texts, n_labels) 0/1 matrix, columns in ``labels`` order."""
        texts = list(texts)
        self.labels = list(labels)
        y = sparse.csc_matrix(label_matrix, dtype=np.int8)
        if y.shape != (len(texts), len(self.labels)):
            raise ValueError(
                f"label matrix shape {y.shape} does not match {len(texts)} texts x {len(self.labels)} labels"
            )
        self.vectorizers_ = self._new_vectorizers()
        features = sparse.hstack([v.fit_transform(texts) for v in self.vectorizers_], format="csr")
        features.sort_indices()

        n_labels = len(self.labels)
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
        self.thresholds = np.full(n_labels, 0.5)
        return self

    def _new_classifier(self, n_rows: int):
        if self.solver == "sgd":
            # alpha = 1 / (C n) is the same L2 penalty as LogisticRegression's C.
            return SGDClassifier(loss="log_loss", alpha=1.0 / (self.C * n_rows), max_iter=5, tol=None, random_state=0)
        # The dual solver is ~3x faster than the primal here (more features than rows).
        return LogisticRegression(C=self.C, solver="liblinear", dual=True, max_iter=1000)

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        # float32 on both sides: a float64 matrix would make scipy upcast all the weights
        # (100 tags x 116k features) on every call, 27 ms of a 32 ms prediction.
        logits = self.transform(list(texts)).astype(np.float32) @ self.weights_ + self.intercepts_
        return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))

    # -- artifact -----------------------------------------------------------------------

    def save(self, folder: Path, metadata: dict) -> Path:
        metadata = dict(
            metadata,
            model="baseline",
            labels=self.labels,
            params=self.get_params(),
            thresholds={"per_tag": [float(t) for t in self.thresholds], **metadata.get("thresholds", {})},
            library_versions=library_versions("scikit-learn", "numpy", "scipy", "joblib"),
            rebuild_command=metadata.get("rebuild_command", REBUILD),
        )
        writers = {
            VECTORIZERS_FILE: lambda path: joblib.dump(self.vectorizers_, path),
            WEIGHTS_FILE: lambda path: np.savez(path.open("wb"), weights=self.weights_, intercepts=self.intercepts_),
        }
        save_artifact(folder, writers, metadata)
        self.metadata = metadata
        return Path(folder)

    @classmethod
    def load(cls, folder: Path) -> TfidfBaseline:
        folder = Path(folder)
        metadata = load_metadata(folder, REBUILD)
        if metadata.get("model") != "baseline":
            raise ArtifactError(f"{folder} holds a {metadata.get('model')!r} model, not a baseline")
        import sklearn

        verify_artifact(folder, metadata, {"scikit-learn": sklearn.__version__}, REBUILD)
        params = dict(metadata.get("params", {}))
        model = cls(**params)
        try:
            model.vectorizers_ = joblib.load(folder / VECTORIZERS_FILE)
            with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as arrays:
                model.weights_ = arrays["weights"]
                model.intercepts_ = arrays["intercepts"]
        except Exception as error:  # any unpickling failure means the same thing to a user
            raise ArtifactError(f"{folder} could not be loaded ({error}). Rebuild it with: {REBUILD}") from error
        model.labels = list(metadata["labels"])
        model.thresholds = np.asarray(metadata["thresholds"]["per_tag"], dtype=np.float64)
        if model.weights_.shape[1] != len(model.labels) or len(model.thresholds) != len(model.labels):
            raise ArtifactError(f"{folder} is inconsistent: weights, labels and thresholds disagree in size")
        model.metadata = metadata
        return model
