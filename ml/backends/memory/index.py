"""The memory's index: remembered questions as rows of sparse segments that only ever grow,
searched by cosine similarity. Additions count from the next search on, without a lock on
the search side: each search reads one published ``_State``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from ml.backends.lexical import compact
from ml.backends.memory.vectors import GramVectoriser
from ml.data.catalogue import TagCatalogue, load_catalogue

Ref = Hashable  # the site's question id (int), or "train:<row>" for a seed question
# A review: text, right tags, ref, the suggested tags the reviewer judged (None: unknown), and
# optionally who reviewed it (None: unknown).
Reviewed = (
    tuple[str, Iterable[str], Ref, Iterable[str] | None]
    | tuple[str, Iterable[str], Ref, Iterable[str] | None, Hashable]
)
# Pending additions are merged into the sparse index this often; a merge rebuilds only the
# current review segment, which holds at most SEGMENT_ROWS questions.
MERGE_EVERY = 256
SEGMENT_ROWS = 20_000
TITLE_CHARS = 200  # of a reviewed question's title, kept to name it as evidence
# A tag has a replacement (``replacement``) once it was shown on MIN_SHOWN reviewed questions and
# replaced by the same tag on at least MIN_RATE of them ("more often than not"); the numbers
# behind the choice are in bench/review_replacements.py's docstring.
MIN_SHOWN = 10
MIN_RATE = 0.5
# ... or sooner, once shown on UNANIMOUS_SHOWN and replaced by the same tag every time (a renamed
# library is rejected for its new name from the first reviews on).
UNANIMOUS_SHOWN = 3
# A tag counts as missed (``missed``) once right on MIN_SHOWN reviewed questions and added by the
# reviewer, not shown, on MIN_RATE of them and MISS_MARGIN more often than the ensemble missed it
# on validation; a lower margin cost ordinary reviews micro-F1, a higher one flagged nothing on
# the tuning streams (bench/review_replacements.py).
MISS_MARGIN = 0.3
# A replacement or a missed flag changes questions unlike the reviewed ones, so it needs this
# many reviewers behind it: one reviewer alone cannot steer every question.
MIN_REVIEWERS = 2


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
    # Spellings of the tags only reviews taught (no seed question carries them) -> label column.
    taught: dict[str, int] = field(default_factory=dict)


class MemoryIndex(GramVectoriser):
    """Remembering and finding questions; ``ReviewMemory`` adds the voting and the model."""

    k: int
    catalogue: TagCatalogue | None
    labels: list[str]
    column_: dict[str, int]
    threshold: float
    thresholds: np.ndarray
    seed_titles: dict[str, str]
    _lock: threading.RLock
    _row_tags: list[np.ndarray]
    _row_refs: list[Ref]
    _row_of: dict[Ref, int]
    _review_titles: dict[Ref, str]  # for evidence: "because of #123 (its title)"
    _row_shown: dict[int, frozenset[str]]  # a reviewed row's tags the reviewer was shown
    _shown_count: Counter[str]  # reviewed questions on which each tag was shown
    _replaced: dict[str, Counter[str]]  # rejected tag -> right tags of the questions it was rejected on
    _replacements: dict[str, tuple[str, float] | None]  # replacement()'s answers since the last review
    _right_count: Counter[str]  # reviewed questions (what was shown known) on which each tag was right
    _added_count: Counter[str]  # ... and on which the reviewer had to add it: it was not shown
    _row_added: dict[int, frozenset[str]]
    _row_reviewer: dict[int, Hashable]  # who reviewed a reviewed row (the row itself when unknown)
    _replaced_by: dict[tuple[str, str], Counter]  # (rejected, right) -> its reviewers
    _added_by: dict[str, Counter]  # tag -> the reviewers who had to add it
    expected_miss: dict[str, float]  # how often the serving ensemble missed each tag on validation
    expected_miss_default: float  # ... a tag it never met there
    _alive: np.ndarray
    _segments: list[sparse.csr_matrix]
    _postings: list[sparse.csr_matrix]
    _pending: list[sparse.csr_matrix]
    _seeded: bool
    _n_seed: int
    _tag_count: np.ndarray
    _seed_counts: np.ndarray | None
    _catalogue_tags: frozenset[str]  # brought by a newer catalogue (``learn_names``)
    _state: _State

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
            self.thresholds_ = np.concatenate([self.thresholds, np.full(len(new), self.threshold)])
            self._tag_count = np.concatenate([self._tag_count, np.zeros(len(new), dtype=np.int64)])
            for tag in new:
                self.column_[tag] = len(self.labels)
                self.labels.append(tag)
        return np.array(sorted({self.column_[tag] for tag in tags}), dtype=np.int32)

    def add(self, text: str, tags: Iterable[str], ref: Ref, shown: Iterable[str] | None = None) -> bool:
        """Remember a reviewed question with its right tags, replacing an earlier review of
        ``ref``; it counts from the next prediction on. No tags: forget ``ref``. ``shown``:
        the suggested tags the reviewer judged (accepted or rejected), when known: which tags
        reviewers reject and what they put in their place (``replacement``). Returns whether
        the question is now remembered."""
        return self.add_many([(text, tags, ref, shown)]) == 1

    def add_many(self, items: Iterable[tuple[str, Iterable[str], Ref] | Reviewed]) -> int:
        """``add`` for many reviews at once (the site's replay at start, oldest first: a later
        review of the same question wins): (text, tags, ref), (text, tags, ref, shown) or
        (text, tags, ref, shown, reviewer). Returns how many were remembered."""
        canonical = [
            (
                item[0],
                self._canonical(item[1]),
                item[2],
                item[3] if len(item) > 3 else None,
                item[4] if len(item) > 4 else None,
            )
            for item in items
        ]
        vectors = self.vectorise([text for text, tags, _, _, _ in canonical if tags])
        remembered, v = 0, 0
        with self._lock:
            for text, tags, ref, shown, reviewer in canonical:
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
                if not self.is_seed(ref):
                    self._review_titles[ref] = text.split("\n", 1)[0][:TITLE_CHARS]
                    if shown is not None:
                        self._row_shown[row] = frozenset(self._canonical(shown))
                        self._row_reviewer[row] = ("row", row) if reviewer is None else reviewer
                        self._count_verdicts(row, +1)
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
        self._review_titles.pop(ref, None)
        if row is None:
            return False
        if row in self._row_shown:
            self._count_verdicts(row, -1)
            del self._row_shown[row], self._row_reviewer[row]
        self._alive[row] = False  # its vector stays in the index, masked out (rows never move)
        self._tag_count[self._row_tags[row]] -= 1
        return True

    def _count_verdicts(self, row: int, sign: int) -> None:
        """Count (or uncount) a reviewed row in ``_shown_count`` and ``_replaced``."""
        shown = self._row_shown[row]
        reviewer = self._row_reviewer[row]
        right = {self.labels[column] for column in self._row_tags[row]}
        for tag in shown:
            self._shown_count[tag] += sign
        if sign > 0:  # a tag shown while floored as missed counts as missed by the models still
            self._row_added[row] = frozenset(t for t in right if t not in shown or self.missed(t) is not None)
        for tag in right:
            self._right_count[tag] += sign
        for tag in self._row_added[row]:
            self._added_count[tag] += sign
            _count(self._added_by.setdefault(tag, Counter()), reviewer, sign)
        if sign < 0:
            del self._row_added[row]
        for wrong in shown - right:
            replaced = self._replaced.setdefault(wrong, Counter())
            for tag in right:
                replaced[tag] += sign
                _count(self._replaced_by.setdefault((wrong, tag), Counter()), reviewer, sign)
        # A fresh cache once the counts are whole: an answer read meanwhile went to the old one.
        self._replacements = {}

    def replacement(self, tag: str) -> tuple[str, float] | None:
        """The tag reviewers put in place of ``tag`` when they rejected it, and how often of
        the times it was shown (a renamed library: flutter -> zorblet, nearly always), once
        ``tag`` was shown on ``MIN_SHOWN`` reviewed questions; None if none, too few or
        replaced less often than ``MIN_RATE``."""
        cache = self._replacements
        if tag in cache:
            return cache[tag]
        shown = self._shown_count.get(tag, 0)
        replaced = self._replaced.get(tag)
        found = None
        if shown >= min(MIN_SHOWN, UNANIMOUS_SHOWN) and replaced:
            best, count = max(replaced.items(), key=lambda item: (item[1], item[0]))
            enough = len(self._replaced_by.get((tag, best), ())) >= MIN_REVIEWERS
            often = count / shown >= MIN_RATE if shown >= MIN_SHOWN else count == shown
            found = (best, count / shown) if often and enough else None
        cache[tag] = found
        return found

    def missed(self, tag: str) -> float | None:
        """How often reviewers had to add ``tag`` themselves, of the reviewed questions it was
        right on (dart beside a renamed flutter, which the models no longer see), once it was
        right on ``MIN_SHOWN`` of them and added on at least ``MIN_RATE`` of them and
        ``MISS_MARGIN`` more often than the ensemble missed it on validation
        (``expected_miss``); None otherwise. A review that showed it while it was flagged
        counts as added (``_count_verdicts``)."""
        right = self._right_count.get(tag, 0)
        if right < MIN_SHOWN or len(self._added_by.get(tag, ())) < MIN_REVIEWERS:
            return None
        rate = self._added_count.get(tag, 0) / right
        expected = self.expected_miss.get(tag, self.expected_miss_default)
        return rate if rate >= MIN_RATE and rate - expected >= MISS_MARGIN else None

    def replacing(self, tag: str) -> list[tuple[str, float]]:
        """The tags ``tag`` is the replacement of (``replacement``), with their rates."""
        found = []
        for wrong in list(self._replaced):
            replaced = self.replacement(wrong)
            if replaced is not None and replaced[0] == tag:
                found.append((wrong, replaced[1]))
        return sorted(found, key=lambda item: -item[1])

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
        self._state = _State(
            tuple(self._postings), pending, self._alive, len(self._row_refs), len(self.labels), self._taught_names()
        )

    def learn_names(self, tags: Iterable[str]) -> None:
        """Tags a newer catalogue brought that no question here carries: a question that names
        one gets it, as if a review had taught it (``named``)."""
        with self._lock:
            canonical = self._canonical(tags)
            self._columns(canonical)
            self._catalogue_tags = frozenset(canonical)
            self._publish()

    def _taught_names(self) -> dict[str, int]:
        """How the tags that only reviews taught, or a newer catalogue brought, are written
        (the tag, and without separators), each with its label column: a question that names
        one gets it (``named``)."""
        if not self._seeded:
            return {}
        seed = self._seed_count()  # labels only grow: it covers a prefix of them
        taught = self._tag_count > 0
        covered = min(len(seed), len(taught))
        taught[:covered] &= seed[:covered] == 0
        live = np.flatnonzero(taught)
        brought = [self.column_[tag] for tag in self._catalogue_tags]
        names: dict[str, int] = {}
        for column in [*live.tolist(), *brought]:
            tag = self.labels[column]
            names.setdefault(tag, column)
            if len(squeezed := compact(tag)) >= 3:
                names.setdefault(squeezed, column)
        return names

    def _seed_count(self) -> np.ndarray:
        """Seed questions per label (counted once: the seed never changes)."""
        found = self._seed_counts
        if found is None:
            tags = self._row_tags[: self._n_seed]
            columns = np.concatenate(tags) if tags else np.zeros(0, dtype=np.int64)
            found = self._seed_counts = np.bincount(columns, minlength=1).astype(np.int64)
        return found

    def _freeze_seed(self) -> None:
        """Make everything remembered so far one segment that is never merged into again."""
        with self._lock:
            rows = [*self._segments, *self._pending]
            if rows:
                merged = sparse.vstack(rows, format="csr")
                self._segments, self._postings, self._pending = [merged], [merged.T.tocsr()], []
            self._seeded = True
            self._n_seed = len(self._row_refs)
            self._seed_counts = None
            self._publish()

    def refs(self) -> list[Ref]:
        return list(self._row_of)

    def ref_title(self, ref: Ref) -> str:
        """A remembered question's title: a seed question's from the corpus, a reviewed
        question's from the text it was added with."""
        return self.seed_titles.get(str(ref), "") or self._review_titles.get(ref, "")

    @staticmethod
    def is_seed(ref: Ref) -> bool:
        return isinstance(ref, str) and ref.startswith("train:")

    def memory_bytes(self) -> int:
        """Bytes held by the index and the rows' tags (not the vectoriser)."""
        matrices = [*self._segments, *self._postings, *self._pending]
        held = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in matrices)
        return held + sum(t.nbytes + 112 for t in self._row_tags) + self._alive.nbytes

    # -- searching ------------------------------------------------------------------------------

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


def _count(counter: Counter, key: Hashable, sign: int) -> None:
    counter[key] += sign
    if counter[key] <= 0:
        del counter[key]
