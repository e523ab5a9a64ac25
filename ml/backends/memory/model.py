"""``ReviewMemory``, the memory as a model kind: training, the artifact, and its settings.
How it works and how the site and the ensemble use it: ``ml/backends/memory/__init__.py``."""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
from scipy import sparse

from ml.artifacts import library_versions, open_artifact, restored_labels, save_artifact, unreadable
from ml.backends.memory.index import Ref, _State
from ml.backends.memory.tuning import K_GRID, ValidationTuning
from ml.cli_types import positive_int
from ml.data.catalogue import TagCatalogue
from ml.predictor import Predictor, ServingOptions, TrainOptions
from ml.registry import rebuild_hint

if TYPE_CHECKING:
    from ml.data.sources import Corpus

VECTORISER_FILE = "vectoriser.joblib"
STORE_FILE = "store.npz"
SEED_TITLES_FILE = "seed_titles.joblib"
MODEL_PARAMS = ("k", "power", "smoothing", "min_df", "oov", "review_weight", "min_votes")


class ReviewMemory(ValidationTuning, Predictor):
    name = "memory"
    training_data = "corpus"
    grows_labels = True

    def __init__(
        self,
        k: int = 80,
        power: float = 1.0,
        smoothing: float = 0.5,
        min_df: int = 2,
        oov: bool = True,
        review_weight: float = 1.0,
        min_votes: int = 20,
        catalogue: TagCatalogue | None = None,
    ):
        self.k, self.power, self.smoothing, self.min_df, self.oov = k, float(power), float(smoothing), min_df, oov
        self.review_weight = float(review_weight)  # a reviewed question's vote, relative to a seed question's
        self.min_votes = min_votes
        self.catalogue = catalogue
        self.labels: list[str] = []
        self.column_: dict[str, int] = {}
        self.base_labels: list[str] = []  # the labels the artifact was saved with
        self.threshold = 0.5
        self.thresholds_ = np.zeros(0)
        self.vocabulary_: dict[str, int] = {}
        self.idf_ = np.zeros(0, dtype=np.float32)
        self.oov_idf_ = 1.0
        self.seed_titles: dict[str, str] = {}
        self._lock = threading.RLock()
        self._row_tags: list[np.ndarray] = []  # label columns of each row (append-only)
        self._row_refs: list[Ref] = []
        self._row_of: dict[Ref, int] = {}  # ref -> its live row
        self._review_titles: dict[Ref, str] = {}
        self._row_shown: dict[int, frozenset[str]] = {}
        self._shown_count: Counter[str] = Counter()
        self._replaced: dict[str, Counter[str]] = {}
        self._replacements: dict[str, tuple[str, float] | None] = {}
        self._right_count: Counter[str] = Counter()
        self._added_count: Counter[str] = Counter()
        self._row_added: dict[int, frozenset[str]] = {}
        self._row_reviewer: dict[int, Hashable] = {}
        self._replaced_by: dict[tuple[str, str], Counter] = {}
        self._added_by: dict[str, Counter] = {}
        self.expected_miss: dict[str, float] = {}
        self.expected_miss_default = 1.0  # no expectation: nothing counts as missed
        self._alive = np.zeros(1024, dtype=bool)
        self._segments: list[sparse.csr_matrix] = []  # merged rows, (rows, features)
        self._postings: list[sparse.csr_matrix] = []
        self._pending: list[sparse.csr_matrix] = []
        self._seeded = False  # True once the first segment (the seed) is frozen: never merged into
        self._n_seed = 0  # rows below this are seed questions; the rest are reviews
        self._tag_count = np.zeros(0, dtype=np.int64)  # live remembered questions per label
        self._seed_counts: np.ndarray | None = None  # seed questions per label, counted when first asked
        self._catalogue_tags: frozenset[str] = frozenset()
        self._state = _State((), None, self._alive, 0, 0)

    # -- training ------------------------------------------------------------------------------

    @classmethod
    def add_train_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(
            "--memory-seed",
            choices=("all", "none"),
            default="all",
            help="remember the completely tagged training questions (all) or start empty (default: %(default)s)",
        )
        group.add_argument(
            "--memory-k", type=positive_int, default=None, help="neighbours that vote (default: chosen on validation)"
        )

    def fit(
        self, texts: Sequence[str], tag_sets: Sequence[Iterable[str]], refs: Sequence[Ref], remember: bool = True
    ) -> ReviewMemory:
        """Fit the vectoriser on these questions, give their tags columns (most used first)
        and, unless ``remember`` is False, remember them as the seed."""
        self.fit_vectoriser(texts)
        canonical = [self._canonical(tags) for tags in tag_sets]
        counts = Counter(tag for tags in canonical for tag in tags)
        with self._lock:
            self._columns(sorted(counts, key=lambda t: (-counts[t], t)))
        if remember:
            self.add_many(zip(texts, canonical, refs, strict=True))
        self._freeze_seed()
        return self

    @classmethod
    def train(cls, dataset: Any, options: TrainOptions) -> dict[str, Any]:
        from ml.training.open_corpus import gold_sets, texts, tune_test_save

        corpus: Corpus = dataset
        params = options.params
        seed = params.get("memory_seed") or "all"
        model = cls(k=params.get("memory_k") or 0)
        started = time.perf_counter()
        # The vectoriser learns from the completely tagged training questions only: fitted on
        # every source's training titles it scored lower on validation.
        complete = corpus.complete("train")
        model.fit(
            texts(corpus, complete),
            [corpus.questions[i].tags for i in complete],
            [f"train:{i}" for i in complete],
            remember=seed == "all",
        )
        if seed == "all":
            model.seed_titles = {f"train:{i}": corpus.questions[i].title for i in complete}
        validation = corpus.complete("validation")
        tried = model.tune(texts(corpus, validation), gold_sets(corpus, validation)) if seed == "all" else []
        model.k = model.k or K_GRID[-1]
        return tune_test_save(
            model,
            corpus,
            options,
            time.perf_counter() - started,
            training_questions=len(complete),
            seed=seed,
            remembered=len(model),
            features=len(model.vocabulary_),
            validation_grid=tried,
        )

    @classmethod
    def training_notes(cls, metadata: dict[str, Any]) -> list[str]:
        params = metadata["params"]
        return [
            f"{metadata['remembered']} questions remembered (seed: {metadata['seed']})",
            f"k={params['k']}, weights similarity^{params['power']:g}, smoothing {params['smoothing']:g}",
            f"built in {metadata['train_seconds']:.1f} s",
        ]

    # -- artifact ------------------------------------------------------------------------------

    def _live_store(self) -> dict[str, np.ndarray]:
        with self._lock:
            live = sorted(self._row_of.values())
            rows = [*self._segments, *self._pending]
            matrix = sparse.vstack(rows, format="csr")[live] if rows else sparse.csr_matrix((0, self.n_features))
            tags = [self._row_tags[r] for r in live]
            n_seed = sum(r < self._n_seed for r in live)
            refs = [self._row_refs[r] for r in live]
        return {
            "data": matrix.data,
            "indices": matrix.indices,
            "indptr": matrix.indptr,
            "tag_indptr": np.cumsum([0, *(len(t) for t in tags)]),
            "tag_columns": np.concatenate(tags) if tags else np.zeros(0, dtype=np.int32),
            "refs": np.array([str(r) for r in refs], dtype=object),
            "ref_is_int": np.array([isinstance(r, int) for r in refs], dtype=bool),
            "n_seed": np.array(n_seed),
        }

    def save(self, folder: Path, metadata: dict[str, Any]) -> Path:
        """The vectoriser and every question remembered now (reviews included, if any)."""
        self.threshold = float(metadata.get("thresholds", {}).get("global", self.threshold))
        self.thresholds_ = np.full(len(self.labels), self.threshold)
        metadata = dict(
            metadata,
            model=self.name,
            labels=list(self.labels),  # a copy: the model's labels keep growing after the save
            params={name: getattr(self, name) for name in MODEL_PARAMS},
            thresholds={**metadata.get("thresholds", {}), "per_tag": [float(t) for t in self.thresholds]},
            library_versions=library_versions("scikit-learn", "numpy", "scipy"),
        )
        store = self._live_store()
        vectoriser = {"vocabulary": self.vocabulary_, "idf": self.idf_, "oov_idf": self.oov_idf_}
        writers = {
            VECTORISER_FILE: lambda path: joblib.dump(vectoriser, path, compress=3),
            STORE_FILE: lambda path: np.savez_compressed(path, allow_pickle=False, **_plain(store)),
            SEED_TITLES_FILE: lambda path: joblib.dump(self.seed_titles, path, compress=3),
        }
        save_artifact(folder, writers, metadata)
        self.metadata = metadata
        self.base_labels = list(self.labels)
        return Path(folder)

    @classmethod
    def load(cls, folder: Path, options: ServingOptions | None = None) -> ReviewMemory:
        import sklearn

        folder = Path(folder)
        hint = rebuild_hint(cls.name)
        metadata = open_artifact(folder, cls.name, hint, {"scikit-learn": sklearn.__version__})
        model = cls(**metadata.get("params", {}))
        try:
            vectoriser = joblib.load(folder / VECTORISER_FILE)
            model.vocabulary_, model.idf_ = vectoriser["vocabulary"], vectoriser["idf"]
            model.oov_idf_ = float(vectoriser["oov_idf"])
            with np.load(folder / STORE_FILE, allow_pickle=False) as store:
                arrays = {name: store[name] for name in store.files}
            model.seed_titles = joblib.load(folder / SEED_TITLES_FILE)
        except Exception as error:
            raise unreadable(folder, error, hint) from error
        labels, thresholds = restored_labels(metadata, folder)
        model.threshold = float(metadata["thresholds"]["global"])
        model.thresholds_ = thresholds
        model.labels_, model.base_labels = labels, list(labels)
        model.column_ = {tag: j for j, tag in enumerate(labels)}
        matrix = sparse.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=(len(arrays["indptr"]) - 1, model.n_features)
        )
        tag_indptr, tag_columns = arrays["tag_indptr"], arrays["tag_columns"].astype(np.int32)
        refs: list[Ref] = [
            int(r) if is_int else str(r) for r, is_int in zip(arrays["refs"], arrays["ref_is_int"], strict=True)
        ]
        n = matrix.shape[0]
        model._row_tags = [tag_columns[tag_indptr[r] : tag_indptr[r + 1]] for r in range(n)]
        model._tag_count = np.bincount(tag_columns, minlength=len(labels)).astype(np.int64)
        model._row_refs = refs
        model._row_of = {ref: r for r, ref in enumerate(refs)}
        model._alive = np.zeros(max(1024, 2 * n), dtype=bool)
        model._alive[:n] = True
        if n:
            model._segments, model._postings = [matrix], [matrix.T.tocsr()]
        model._seeded = True
        model._n_seed = int(arrays["n_seed"])
        model._publish()
        model.metadata = metadata
        return model


def _plain(store: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Refs as a fixed-width string array, so the store loads without pickle."""
    refs = store["refs"]
    return dict(store, refs=np.array(list(refs), dtype=str) if len(refs) else np.zeros(0, dtype="<U1"))
