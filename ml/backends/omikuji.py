"""An open-vocabulary classifier: TF-IDF features and an Omikuji (Bonsai) label tree.

One-vs-rest logistic regression costs time per tag, and its dense weights would need
gigabytes at 400k features. A label tree trains every tag at once: on the same data it fits
many times faster, predicts quickly and scored better on validation (docs/benchmarks.md).

A tree treats a missing tag as a negative, so it learns only from the questions whose whole
tag set is known (the open questions): the 100-tag and 20-tag files label partial tag sets,
and reach the ensemble through the models trained on them instead.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from ml.artifacts import library_versions, open_artifact, restored_labels, restored_params, save_artifact, unreadable
from ml.cli_types import ngram_range, positive_int
from ml.errors import MissingDependency
from ml.predictor import Predictor, ServingOptions, TrainOptions
from ml.registry import rebuild_hint
from ml.text import TOKEN_PATTERN

if TYPE_CHECKING:
    from ml.data.sources import Corpus

VECTORIZER_FILE = "vectorizer.joblib"
TREE_DIR = "tree"
MODEL_PARAMS = ("min_count", "word_ngrams", "char_ngrams", "min_df", "bonsai", "beam_size", "top_k")
_STDOUT_LOCK = threading.Lock()


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Omikuji's Rust logger writes its lines to file descriptor 1 and cannot be told
    otherwise: while it may log (loading, training, saving), descriptor 1 is stderr, so that
    what a command prints on stdout (JSON Lines, a token) stays clean."""
    with _STDOUT_LOCK:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            os.dup2(2, 1)
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _omikuji() -> Any:
    try:
        import omikuji
    except ImportError as error:
        raise MissingDependency(
            "the omikuji model needs the omikuji package: pip install -r requirements.txt"
        ) from error
    return omikuji


class OmikujiTagger(Predictor):
    name = "omikuji"
    training_data = "corpus"

    def __init__(
        self,
        min_count: int = 5,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] | None = None,
        min_df: int = 2,
        bonsai: bool = True,
        beam_size: int = 5,  # as good as 10 on validation, and faster
        top_k: int = 20,
        n_threads: int = 2,
    ):
        self.min_count = min_count
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.bonsai = bonsai
        self.beam_size = beam_size
        self.top_k = top_k
        self.n_threads = n_threads
        self.labels: list[str] = []
        self.thresholds_ = np.zeros(0)

    def _vectorizers(self) -> list[TfidfVectorizer]:
        common: dict[str, Any] = dict(sublinear_tf=True, dtype=np.float32, min_df=self.min_df)
        found = [TfidfVectorizer(ngram_range=tuple(self.word_ngrams), token_pattern=TOKEN_PATTERN, **common)]
        if self.char_ngrams:
            found.append(TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngrams), **common))
        return found

    def _features(self, texts: Sequence[str], fit: bool = False) -> sparse.csr_matrix:
        from sklearn.preprocessing import normalize

        if fit:
            blocks = [v.fit_transform(texts) for v in self.vectorizers_]
        else:
            blocks = [v.transform(texts) for v in self.vectorizers_]
        features = normalize(sparse.hstack(blocks, format="csr"))
        features.sort_indices()
        return features

    def fit(self, texts: Sequence[str], tag_sets: Sequence[Sequence[str]], labels: Sequence[str]) -> OmikujiTagger:
        omikuji = _omikuji()
        self.labels_ = list(labels)
        column = {tag: j for j, tag in enumerate(self.labels)}
        self.vectorizers_ = self._vectorizers()
        features = self._features(list(texts), fit=True)
        rows = []
        for r, tags in enumerate(tag_sets):
            targets = sorted({column[t] for t in tags if t in column})
            start, stop = features.indptr[r], features.indptr[r + 1]
            if targets and stop > start:
                pairs = " ".join(
                    f"{f}:{v:.6f}" for f, v in zip(features.indices[start:stop], features.data[start:stop], strict=True)
                )
                rows.append(",".join(map(str, targets)) + " " + pairs)
        params = omikuji.Model.default_hyper_param()
        if self.bonsai:  # Bonsai: shallow, wide, unbalanced trees (omikuji's README)
            params.cluster_balanced = False
            params.cluster_k = 100
            params.max_depth = 3
            params.collapse_every_n_layers = 0
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / "train.txt"
            data.write_text(f"{len(rows)} {features.shape[1]} {len(self.labels)}\n" + "\n".join(rows) + "\n")
            with logs_to_stderr():
                self.tree_ = omikuji.Model.train_on_data(str(data), params, n_threads=self.n_threads)
        self.thresholds_ = np.full(len(self.labels), 0.5)
        return self

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        features = self._features(list(texts))
        scores = np.zeros((features.shape[0], len(self.labels)))
        for r in range(features.shape[0]):
            start, stop = features.indptr[r], features.indptr[r + 1]
            if stop == start:
                continue
            pairs = list(zip(features.indices[start:stop].tolist(), features.data[start:stop].tolist(), strict=True))
            for label, score in self.tree_.predict(pairs, beam_size=self.beam_size, top_k=self.top_k):
                scores[r, label] = score
        return scores

    # -- training ---------------------------------------------------------------------------

    @classmethod
    def add_train_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(
            "--omikuji-min-count",
            type=positive_int,
            default=5,
            help="learn tags with at least this many training questions (default: %(default)s)",
        )
        group.add_argument(
            "--omikuji-char-ngrams", type=ngram_range, default=None, help="add character n-grams, e.g. 2-5 (slower)"
        )

    @classmethod
    def train(cls, dataset: Any, options: TrainOptions) -> dict[str, Any]:
        from ml.training.open_corpus import frequent_tags, texts, tune_test_save

        corpus: Corpus = dataset
        params = options.params
        model = cls(min_count=params.get("omikuji_min_count") or 5, char_ngrams=params.get("omikuji_char_ngrams"))
        rows = corpus.complete("train")
        counts = corpus.tag_counts("train", scope="all")
        labels = frequent_tags(counts, model.min_count)
        started = time.perf_counter()
        model.fit(texts(corpus, rows), [corpus.questions[i].tags for i in rows], labels)
        return tune_test_save(model, corpus, options, time.perf_counter() - started, training_questions=len(rows))

    @classmethod
    def training_notes(cls, metadata: dict[str, Any]) -> list[str]:
        return [f"{len(metadata['labels'])} tags", f"fit in {metadata['train_seconds']:.1f} s"]

    # -- artifact ---------------------------------------------------------------------------

    def _save_tree(self, path: Path) -> None:
        with logs_to_stderr():
            self.tree_.save(str(path))

    def save(self, folder: Path, metadata: dict[str, Any]) -> Path:
        metadata = dict(
            metadata,
            model=self.name,
            labels=self.labels,
            params={name: getattr(self, name) for name in MODEL_PARAMS},
            thresholds={"per_tag": [float(t) for t in self.thresholds], **metadata.get("thresholds", {})},
            library_versions=library_versions("scikit-learn", "numpy", "scipy", "omikuji"),
        )
        writers = {
            VECTORIZER_FILE: lambda path: joblib.dump(self.vectorizers_, path),
            TREE_DIR: self._save_tree,
        }
        save_artifact(folder, writers, metadata)
        self.metadata = metadata
        return Path(folder)

    @classmethod
    def load(cls, folder: Path, options: ServingOptions | None = None) -> OmikujiTagger:
        import sklearn

        omikuji = _omikuji()
        folder = Path(folder)
        hint = rebuild_hint(cls.name)
        metadata = open_artifact(folder, cls.name, hint, {"scikit-learn": sklearn.__version__})
        params = restored_params(metadata)
        threads = (options.threads if options else None) or 1
        model = cls(**params, n_threads=threads)
        try:
            model.vectorizers_ = joblib.load(folder / VECTORIZER_FILE)
            with logs_to_stderr():
                model.tree_ = omikuji.Model.load(str(folder / TREE_DIR))
            model.tree_.init_prediction_thread_pool(threads)
        except Exception as error:
            raise unreadable(folder, error, hint) from error
        model.labels_, model.thresholds_ = restored_labels(metadata, folder)
        model.metadata = metadata
        return model
