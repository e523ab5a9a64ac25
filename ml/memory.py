"""A memory of reviewed questions whose right tags vote: it learns from every saved review.

What it is: TF-IDF vectors (word 1-2-grams, ``ml.text.TOKEN_PATTERN``, fitted once at
training time) of remembered questions, each with its right tags and a reference (``ref``:
the site's question id, or ``"train:<row>"`` for a corpus question it was seeded with). A new
question's ``k`` most similar remembered questions (cosine) vote for their tags with weight
``similarity ** power``; a tag's score is its share of the votes, ``sum of its weights /
(weight of the best max(n, min_votes) neighbours + smoothing)``, in [0, 1], where n is how
many remembered questions carry the tag (a tag on 3 questions can have only 3 voters, so the
other 77 neighbours do not dilute it). Words the vectoriser never saw (a library
born after the training data: ``polars``) are hashed into extra columns with the idf of a
word seen once, so two reviewed questions naming it are similar at once.

``add(text, tags, ref)`` makes a question count for the very next prediction: no refit, no
restart (the vector is appended to a pending block, merged into the sparse index every
``MERGE_EVERY`` additions). A later ``add`` with the same ``ref`` replaces the earlier one (the
latest review counts); ``remove(ref)`` forgets it. Every suggestion can be traced to the
remembered questions that voted for it (``suggest_with_evidence``, ``evidence``).

How the site should use it (issue 10)
-------------------------------------
- Load it like any model: ``load_predictor("memory", models_dir)``. Each gunicorn worker holds
  its own copy; the artifact holds only the vectoriser and the seed questions.
- **At start**, replay every saved review from the database, oldest first, in one call:
  ``model.add_many((question_text(title, body), right_tags, question_id) for ...)`` where
  ``right_tags`` are the review's accepted + added tags (canonicalised again here). 10,000
  reviews replay in ~1.3 s on top of the 37,269 seed questions (``bench/review_learning.py``),
  and hold ~0.75 MB per 1,000 reviews (traced, linear). Replay before the first
  request, and before the ensemble is built on top (see below).
- **On each saved review** (web form or ``POST /api/v1/predictions/<id>/feedback``), after the
  transaction commits: ``model.add(question_text(title, body), right_tags, ref=question_id)``.
  A review with no right tag at all removes the question (``add`` with no tags = ``remove``).
  Each worker must learn it: the worker that saved the review calls ``add``; the other
  workers must catch up before their next prediction, e.g. by polling the reviews table for
  ids/updated times newer than the last they replayed (cheap: one indexed query per request
  or a one-second timer) and calling ``add`` for each. ``add`` is thread-safe: gthread
  workers may call it while other threads predict.
- Persisting reviews is the database's job: ``add`` never writes to disk.
- Evidence: ``suggest_with_evidence(texts, top_k)`` returns per suggested tag the refs of the
  remembered questions that voted for it, strongest first; ints are reviewed questions
  (link ``/history/<id>``: "because of #123, #456"), ``"train:<row>"`` strings are seed
  questions (``ref_title(ref)`` gives their title).

How labels grow (for the ensemble and anything that reads columns)
------------------------------------------------------------------
``labels`` is a list that only ever appends: a tag a reviewer added that the memory had never
seen becomes a new last column, and existing columns never move. ``thresholds`` grows first
(every tag shares the global threshold tuned on validation), so ``len(thresholds) >=
len(labels)`` always holds. ``predict_scores(texts)`` returns ``len(labels)`` columns *as of
the moment it started*: read the tag of column j as ``labels[j]`` and never assume
``scores.shape[1] == len(labels)`` afterwards. ``best_tags(texts, n)`` returns (tag, score)
pairs and needs no column bookkeeping at all.

What the ensemble needs to change (``ml/ensemble.py``, not done here)
--------------------------------------------------------------------
- It maps each member's columns once, in ``__init__`` (``keep_``, ``names_``, ``column_``,
  ``vocabularies_``): the memory's new tags would be cut off by ``[:, self.keep_[name]]``. For
  the memory member use ``best_tags(texts, MEMBER_TOP)`` instead of column slicing, and let
  ``labels``/``column_`` of the ensemble grow the same append-only way (or score into a dict).
- ``load`` compares its labels with the artifact's: compare only the memory's artifact labels
  (``memory.base_labels``), since replayed reviews add tags after loading.
- ``"memory knows"``: a tag is known to the memory once any remembered question carries it
  (``tag in memory.column_``).
- The combiner must see memory scores on validation to learn their weight: that is why the
  memory is seeded with the completely tagged training questions (``--memory-seed all``),
  which makes it a plain kNN member there (all-tag micro-F1 alone 0.375 on validation, 0.383
  on test; omikuji 0.445, lexical 0.461);
  reviews then make it stronger where nothing else knows anything. A new tag only the memory
  knows has "members proposing" = 1 and popularity 0 (absent from the catalogue): check on a
  replayed stream (``bench/review_learning.py``) that the combiner does not silence it, e.g.
  by giving the memory's score for tags no other member knows a path through (a floor).

Measured (``bench/review_learning.py``, 2 cores, seeded memory with 10,000 reviews: 47,469
questions): ``add`` 0.8 ms p50 / 4.7 ms p95, one suggestion 2.0 / 6.4 ms, a review shows in the
next suggestion in < 16 ms (every one of 200 tries). A library held out of training (flutter:
the vectoriser never saw the word): suggested for 0% of later flutter questions before any
review, 69% after 25 reviews, 72% after 200; all-tag micro-F1 on them 0.13 -> 0.44 (25) ->
0.41 (200) for the memory alone: below the issue's 80% / 0.60, whose reference (0.31 for a
model that never saw the tag) is the ensemble's level, so the target needs the memory wired
into the ensemble. Alone it sees only text similarity, and ~30% of later flutter titles share
nothing specific with earlier flutter questions. Weighting reviews above seed questions
(``review_weight``) trades the two: on validation (angular held out instead, validation
questions replayed as reviews; measured at power 1.5 before min_votes) a weight of 16 lifted
angular from 57% to 84% suggested, but cost 0.04 micro-F1 after 200 ordinary reviews and
0.13 after 2,000, so the default stays 1. A tag seen on one reviewed question only is not
suggested (its single vote is compared with the best 20 neighbours').
"""

from __future__ import annotations

import argparse
import math
import re
import threading
import time
import zlib
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import joblib
import numpy as np
from scipy import sparse

from .artifacts import library_versions, open_artifact, restored_labels, save_artifact, unreadable
from .catalogue import TagCatalogue, load_catalogue
from .cli_types import positive_int
from .predictor import DEFAULT_TOP_K, Predictor, ServingOptions, Suggestion, TrainOptions, check_threshold, decide
from .registry import rebuild_hint
from .text import TOKEN_PATTERN

if TYPE_CHECKING:
    from .data.sources import Corpus

Ref = Hashable  # the site's question id (int), or "train:<row>" for a seed question
VECTORISER_FILE = "vectoriser.joblib"
STORE_FILE = "store.npz"
SEED_TITLES_FILE = "seed_titles.joblib"
# Hashed columns for words the vectoriser never saw (2**18: collisions are rare among the few
# thousand new words a site meets, and each index segment's postings hold one pointer per column).
OOV_BUCKETS = 1 << 18
# Pending additions are merged into the sparse index this often; a merge rebuilds only the
# current review segment, which holds at most SEGMENT_ROWS questions.
MERGE_EVERY = 256
SEGMENT_ROWS = 20_000
# Validation grid (see ``tune``). The defaults of ``ReviewMemory`` are what it chose on the
# open corpus (``python -m ml train --model memory``): k=80, weights similarity^1, smoothing
# 0.5, min_votes 20: validation all-tag micro-F1 0.375 (0.350 without min_votes; the k, power
# and smoothing surface from k=20 to 120 and power 0.5 to 2 lies between 0.336 and 0.358).
K_GRID = (20, 40, 80)
POWER_GRID = (1.0, 1.5, 2.0)
SMOOTHING_GRID = (0.0, 0.5)
# Then min_votes (1,000,000 = off: every tag's votes compared with all k neighbours'). At 20
# validation micro-F1 rose from 0.357 to 0.372: a tag remembered on 3 questions can have
# only 3 voters, so its score is no longer diluted by the other 77 neighbours.
MIN_VOTES_GRID = (1_000_000, 40, 20, 10, 5)
# Thresholds tried per setting while tuning (the final threshold is tuned on the full grid).
COARSE_THRESHOLDS = np.round(np.arange(0.04, 0.41, 0.02), 2)
MAX_REFS = 5
MODEL_PARAMS = ("k", "power", "smoothing", "min_df", "oov", "review_weight", "min_votes")
_TOKEN = re.compile(TOKEN_PATTERN)


def grams(text: str) -> list[str]:
    """Lower-cased word 1- and 2-grams, as ``TfidfVectorizer(ngram_range=(1, 2))`` makes them."""
    tokens = _TOKEN.findall(text.lower())
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


class Evidenced(NamedTuple):
    tag: str
    score: float
    confident: bool
    refs: list[Ref]  # the remembered questions that voted for the tag, strongest first


@dataclass(frozen=True)
class _State:
    """What a prediction reads: published as one object, so ``predict`` takes no lock.

    Rows are numbered in order: the merged segments, then the pending block. ``alive`` may
    be longer than ``n_rows`` and may be flipped under a running prediction (a removal is
    then seen by the next one)."""

    postings: tuple[sparse.csr_matrix, ...]  # each segment's vectors, transposed: (features, rows)
    pending: sparse.csr_matrix | None  # (rows, features) added since the last merge
    alive: np.ndarray
    n_rows: int
    n_labels: int


class ReviewMemory(Predictor):
    name = "memory"
    training_data = "corpus"

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
        self.thresholds = np.zeros(0)
        self.vocabulary_: dict[str, int] = {}
        self.idf_ = np.zeros(0, dtype=np.float32)
        self.oov_idf_ = 1.0
        self.seed_titles: dict[str, str] = {}
        self._lock = threading.RLock()
        self._row_tags: list[np.ndarray] = []  # label columns of each row (append-only)
        self._row_refs: list[Ref] = []
        self._row_of: dict[Ref, int] = {}  # ref -> its live row
        self._alive = np.zeros(1024, dtype=bool)
        self._segments: list[sparse.csr_matrix] = []  # merged rows, (rows, features)
        self._postings: list[sparse.csr_matrix] = []
        self._pending: list[sparse.csr_matrix] = []
        self._seeded = False  # True once the first segment (the seed) is frozen: never merged into
        self._n_seed = 0  # rows below this are seed questions; the rest are reviews
        self._tag_count = np.zeros(0, dtype=np.int64)  # live remembered questions per label
        self._state = _State((), None, self._alive, 0, 0)

    # -- the vectoriser ------------------------------------------------------------------------

    @property
    def n_features(self) -> int:
        return len(self.vocabulary_) + (OOV_BUCKETS if self.oov else 0)

    def fit_vectoriser(self, texts: Sequence[str]) -> ReviewMemory:
        from sklearn.feature_extraction.text import TfidfVectorizer

        fitted = TfidfVectorizer(analyzer=grams, sublinear_tf=True, min_df=self.min_df, dtype=np.float32).fit(texts)
        self.vocabulary_ = {term: int(j) for term, j in fitted.vocabulary_.items()}
        self.idf_ = fitted.idf_.astype(np.float32)
        # A word never seen weighs as one seen once in training (smooth idf, as sklearn's).
        self.oov_idf_ = float(np.log((1 + len(texts)) / 2) + 1)
        return self

    def vectorise(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """L2-normalised sublinear TF-IDF rows; unseen words go to hashed columns."""
        vocabulary, idf, known = self.vocabulary_, self.idf_, len(self.vocabulary_)
        indptr, indices, values = [0], [], []
        for text in texts:
            counts = Counter(grams(text))
            row: dict[int, float] = {}
            for term, count in counts.items():
                j = vocabulary.get(term)
                if j is not None:
                    weight = float(idf[j])
                elif self.oov:
                    j = known + zlib.crc32(term.encode()) % OOV_BUCKETS
                    weight = self.oov_idf_
                else:
                    continue
                row[j] = row.get(j, 0.0) + (1.0 + math.log(count)) * weight
            norm = math.sqrt(sum(v * v for v in row.values())) or 1.0
            for j in sorted(row):
                indices.append(j)
                values.append(row[j] / norm)
            indptr.append(len(indices))
        return sparse.csr_matrix(
            (np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int32), np.asarray(indptr)),
            shape=(len(texts), self.n_features),
        )

    # -- remembering ---------------------------------------------------------------------------

    def __len__(self) -> int:
        """Questions remembered now (replaced and removed ones not counted)."""
        return len(self._row_of)

    def __contains__(self, ref: object) -> bool:
        return ref in self._row_of

    def _canonical(self, tags: Iterable[str]) -> list[str]:
        catalogue = self.catalogue if self.catalogue is not None else load_catalogue()
        self.catalogue = catalogue
        return list(catalogue.canonical_tags(tags))

    def _columns(self, tags: Sequence[str]) -> np.ndarray:
        """Label columns of canonical tags, appending new labels (thresholds first)."""
        new = [tag for tag in dict.fromkeys(tags) if tag not in self.column_]
        if new:
            self.thresholds = np.concatenate([self.thresholds, np.full(len(new), self.threshold)])
            self._tag_count = np.concatenate([self._tag_count, np.zeros(len(new), dtype=np.int64)])
            for tag in new:
                self.column_[tag] = len(self.labels)
                self.labels.append(tag)
        return np.array(sorted({self.column_[tag] for tag in tags}), dtype=np.int32)

    def add(self, text: str, tags: Iterable[str], ref: Ref) -> bool:
        """Remember a reviewed question with its right tags, replacing an earlier review of
        ``ref``; it counts from the next prediction on. No tags: forget ``ref``. Returns
        whether the question is now remembered."""
        return self.add_many([(text, tags, ref)]) == 1

    def add_many(self, items: Iterable[tuple[str, Iterable[str], Ref]]) -> int:
        """``add`` for many reviews at once (the site's replay at start, oldest first: a later
        review of the same question wins). Returns how many were remembered."""
        canonical = [(text, self._canonical(tags), ref) for text, tags, ref in items]
        vectors = self.vectorise([text for text, tags, _ in canonical if tags])
        remembered, v = 0, 0
        with self._lock:
            for _, tags, ref in canonical:
                self._forget(ref)
                if not tags:
                    continue
                row = len(self._row_refs)
                if row >= len(self._alive):  # grow: predictions in flight keep the old buffer
                    grown = np.zeros(2 * len(self._alive), dtype=bool)
                    grown[: len(self._alive)] = self._alive
                    self._alive = grown
                columns = self._columns(tags)
                self._tag_count[columns] += 1
                self._row_tags.append(columns)
                self._row_refs.append(ref)
                self._row_of[ref] = row
                self._alive[row] = True
                self._pending.append(vectors[v])
                v += 1
                remembered += 1
                if len(self._pending) >= MERGE_EVERY:
                    self._merge()
            self._publish()
        return remembered

    def remove(self, ref: Ref) -> bool:
        """Forget the question ``ref``; False when it was not remembered."""
        with self._lock:
            found = self._forget(ref)
            self._publish()
        return found

    def _forget(self, ref: Ref) -> bool:
        row = self._row_of.pop(ref, None)
        if row is None:
            return False
        self._alive[row] = False  # its vector stays in the index, masked out (rows never move)
        self._tag_count[self._row_tags[row]] -= 1
        return True

    def _merge(self) -> None:
        """Pending rows into the last segment (rebuilding only its postings), or a new one
        when it is full or is the frozen seed."""
        pending = sparse.vstack(self._pending, format="csr")
        self._pending = []
        frozen = 1 if self._seeded else 0
        if len(self._segments) > frozen and self._segments[-1].shape[0] + pending.shape[0] <= SEGMENT_ROWS:
            merged = sparse.vstack([self._segments[-1], pending], format="csr")
            self._segments[-1], self._postings[-1] = merged, merged.T.tocsr()
        else:
            self._segments.append(pending)
            self._postings.append(pending.T.tocsr())

    def _publish(self) -> None:
        pending = sparse.vstack(self._pending, format="csr") if self._pending else None
        self._state = _State(tuple(self._postings), pending, self._alive, len(self._row_refs), len(self.labels))

    def _freeze_seed(self) -> None:
        """Make everything remembered so far one segment that is never merged into again."""
        with self._lock:
            rows = [*self._segments, *self._pending]
            if rows:
                merged = sparse.vstack(rows, format="csr")
                self._segments, self._postings, self._pending = [merged], [merged.T.tocsr()], []
            self._seeded = True
            self._n_seed = len(self._row_refs)
            self._publish()

    def refs(self) -> list[Ref]:
        return list(self._row_of)

    def ref_title(self, ref: Ref) -> str:
        """A seed question's title (reviewed questions are the site's to describe)."""
        return self.seed_titles.get(str(ref), "")

    def memory_bytes(self) -> int:
        """Bytes held by the index and the rows' tags (not the vectoriser)."""
        matrices = [*self._segments, *self._postings, *self._pending]
        held = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in matrices)
        return held + sum(t.nbytes + 112 for t in self._row_tags) + self._alive.nbytes

    # -- predicting ----------------------------------------------------------------------------

    def neighbours(
        self, texts: Sequence[str], k: int | None = None, state: _State | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each text's ``k`` most similar live remembered questions: (rows, similarities), best first."""
        state = state or self._state
        k = k or self.k
        query = self.vectorise(texts)
        parts = [query @ postings for postings in state.postings]
        if state.pending is not None:
            parts.append(query @ state.pending.T)
        found = []
        if not parts:
            return [(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)) for _ in texts]
        similarities = sparse.hstack(parts, format="csr") if len(parts) > 1 else parts[0].tocsr()
        for r in range(similarities.shape[0]):
            start, stop = similarities.indptr[r], similarities.indptr[r + 1]
            rows, values = similarities.indices[start:stop], similarities.data[start:stop]
            keep = state.alive[rows] & (values > 1e-6)
            rows, values = rows[keep], values[keep]
            if len(rows) > k:
                best = np.argpartition(-values, k - 1)[:k]
                rows, values = rows[best], values[best]
            order = np.lexsort((rows, -values))  # ties: the older question first
            found.append((rows[order].astype(np.int64), values[order]))
        return found

    def votes(self, rows: np.ndarray, similarities: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(label columns, scores) the best ``k`` of these neighbours give, unordered."""
        k = k or self.k
        rows, similarities = rows[:k], similarities[:k].astype(np.float64)
        if not len(rows):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        weights = similarities**self.power
        if self.review_weight != 1.0:
            weights[rows >= self._n_seed] *= self.review_weight
        tags = [self._row_tags[r] for r in rows]
        columns = np.concatenate(tags)
        repeated = np.repeat(weights, [len(t) for t in tags])
        labels, inverse = np.unique(columns, return_inverse=True)
        # A tag remembered on n questions can have at most n voters: its votes are compared
        # with the weight of the best max(n, min_votes) neighbours, not of all k.
        best = np.cumsum(np.sort(weights)[::-1])
        voters = np.clip(self._tag_count[labels], min(self.min_votes, len(best)), len(best))
        scores = np.bincount(inverse, weights=repeated) / (best[voters - 1] + self.smoothing)
        return labels.astype(np.int64), np.minimum(scores, 1.0)

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        return self._scores(list(texts), self._state)[0]

    def _scores(self, texts: list[str], state: _State) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        found = self.neighbours(texts, state=state)
        scores = np.zeros((len(texts), state.n_labels))
        for r, (rows, similarities) in enumerate(found):
            columns, values = self.votes(rows, similarities)
            scores[r, columns] = values
        return scores, found

    def best_tags(self, texts: Sequence[str], n: int = 20) -> list[list[tuple[str, float]]]:
        """Each text's ``n`` best (tag, score), best first, zero scores left out: no columns."""
        state = self._state
        result = []
        for rows, similarities in self.neighbours(list(texts), state=state):
            columns, values = self.votes(rows, similarities)
            order = np.lexsort((columns, -values))[:n]
            result.append([(self.labels[columns[i]], float(values[i])) for i in order if values[i] > 0])
        return result

    def suggest(
        self,
        texts: Sequence[str],
        top_k: int = DEFAULT_TOP_K,
        threshold: float | None = None,
        ensure_one: bool = True,
    ) -> list[list[Suggestion]]:
        return [
            [Suggestion(e.tag, e.score, e.confident) for e in row]
            for row in self.suggest_with_evidence(texts, top_k, threshold, ensure_one, max_refs=0)
        ]

    def suggest_with_evidence(
        self,
        texts: Sequence[str],
        top_k: int = DEFAULT_TOP_K,
        threshold: float | None = None,
        ensure_one: bool = True,
        max_refs: int = MAX_REFS,
    ) -> list[list[Evidenced]]:
        """``suggest`` with, per tag, the refs of the remembered questions that voted for it
        (at most ``max_refs``, the most similar first)."""
        check_threshold(threshold)
        texts = list(texts)
        if not texts:
            return []
        state = self._state  # one consistent view: scores, labels and thresholds agree
        scores, found = self._scores(texts, state)
        cut = np.asarray(self.thresholds[: state.n_labels] if threshold is None else threshold)
        cut = np.broadcast_to(cut, scores.shape[1:])
        if not scores.shape[1]:
            return [[] for _ in texts]
        chosen = decide(scores, cut, top_k=top_k, ensure_one=ensure_one) & (scores > 0)
        results = []
        for row_scores, row_chosen, (rows, _) in zip(scores, chosen, found, strict=True):
            idx = np.flatnonzero(row_chosen)
            idx = idx[np.argsort(-row_scores[idx], kind="stable")]
            voters = rows[: self.k]
            results.append(
                [
                    Evidenced(
                        self.labels[i],
                        round(float(row_scores[i]), 4),
                        bool(row_scores[i] >= cut[i]),
                        [self._row_refs[r] for r in voters if i in self._row_tags[r]][:max_refs],
                    )
                    for i in idx
                ]
            )
        return results

    def evidence(self, text: str, tag: str, max_refs: int = MAX_REFS) -> list[tuple[Ref, float]]:
        """The remembered questions among ``text``'s neighbours that carry ``tag``, with their
        similarity, most similar first: why the memory suggests (or would suggest) it."""
        column = self.column_.get(self._canonical([tag])[0] if tag.strip() else "")
        if column is None:
            return []
        rows, similarities = self.neighbours([text])[0]
        return [
            (self._row_refs[r], round(float(s), 4))
            for r, s in zip(rows[: self.k], similarities[: self.k], strict=True)
            if column in self._row_tags[r]
        ][:max_refs]

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

    def tune(self, texts: Sequence[str], gold: Sequence[set[str]]) -> list[dict[str, Any]]:
        """Choose k, power and smoothing, then ``min_votes``, for the best all-tag micro-F1 on
        these (validation) questions, each setting with its own best global threshold; returns
        every setting tried."""
        ks = (self.k,) if self.k else K_GRID
        found = self.neighbours(texts, k=max(ks))
        tried: list[dict[str, Any]] = []
        for k in ks:
            for power in POWER_GRID:
                for smoothing in SMOOTHING_GRID:
                    self.power, self.smoothing = power, smoothing
                    tried.append(self._tried(found, k, gold))
        best = max(tried, key=lambda row: row["micro_f1"])
        self.k, self.power, self.smoothing = int(best["k"]), float(best["power"]), float(best["smoothing"])
        for min_votes in MIN_VOTES_GRID:
            self.min_votes = min_votes
            tried.append(self._tried(found, self.k, gold))
        self.min_votes = int(max(tried, key=lambda row: row["micro_f1"])["min_votes"])
        return tried

    def _tried(self, found: list[tuple[np.ndarray, np.ndarray]], k: int, gold: Sequence[set[str]]) -> dict[str, Any]:
        from .evaluate import all_tag_metrics
        from .open_train import chosen_and_ranked

        top = self._top(found, k)
        f1, threshold = max(
            (all_tag_metrics(list(gold), *chosen_and_ranked(top, self.labels, float(t)))["micro_f1"], float(t))
            for t in COARSE_THRESHOLDS
        )
        setting = {name: getattr(self, name) for name in ("power", "smoothing", "min_votes")}
        return {"k": k, **setting, "threshold": threshold, "micro_f1": f1}

    def _top(self, found: list[tuple[np.ndarray, np.ndarray]], k: int, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
        columns = np.zeros((len(found), n), dtype=np.int64)
        values = np.zeros((len(found), n))
        for r, (rows, similarities) in enumerate(found):
            labels, scores = self.votes(rows, similarities, k)
            order = np.lexsort((labels, -scores))[:n]
            columns[r, : len(order)], values[r, : len(order)] = labels[order], scores[order]
        return columns, values

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
        from .open_train import gold_sets, texts, tune_test_save

        corpus: Corpus = dataset
        params = options.params
        seed = params.get("memory_seed") or "all"
        model = cls(k=params.get("memory_k") or 0)
        started = time.perf_counter()
        # The vectoriser learns from the completely tagged training questions only: fitted on
        # every source's training titles it scored 0.346 on validation instead of 0.357.
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
        self.thresholds = np.full(len(self.labels), self.threshold)
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
        model.thresholds = thresholds
        model.labels, model.base_labels = labels, list(labels)
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
