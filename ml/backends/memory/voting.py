"""The memory's voting: a question's most similar remembered questions vote for their tags,
and every suggested tag can name the questions that voted for it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ml.backends.memory.index import MemoryIndex, Ref, _State
from ml.predictor import DEFAULT_TOP_K, Suggestion, check_threshold, decide
from ml.text import TOKEN_PATTERN

MAX_REFS = 5
# The least score of a tag only reviews taught when the question names it, as a multiple of the
# memory's threshold: in the title it is the question's subject (twice the threshold: the
# ensemble shows about 0.5); elsewhere it may be a passing mention (just at the threshold).
NAMED_IN_TITLE = 2.0
NAMED_ELSEWHERE = 1.0
_TOKEN = re.compile(TOKEN_PATTERN)


def named(text: str, names: dict[str, int], threshold: float) -> dict[int, float]:
    """The label columns of ``names`` (spelling -> column) that ``text`` names, each with its
    least score (``threshold`` times NAMED_IN_TITLE or NAMED_ELSEWHERE, at most 1): words,
    and runs of up to three joined by hyphens or by nothing (``lang chain`` names ``langchain``)."""
    if not names:
        return {}
    found: dict[int, float] = {}
    title, _, rest = text.partition("\n")
    for part, times in ((title, NAMED_IN_TITLE), (rest, NAMED_ELSEWHERE)):
        score = min(1.0, times * threshold)
        tokens = [token.lower() for token in _TOKEN.findall(part)]
        for start in range(len(tokens)):
            for size in (1, 2, 3):
                gram = tokens[start : start + size]
                if len(gram) < size:
                    break
                for spelling in ("-".join(gram), "".join(gram)):
                    column = names.get(spelling)
                    if column is not None and found.get(column, 0.0) < score:
                        found[column] = score
    return found


class Evidenced(NamedTuple):
    tag: str
    score: float
    confident: bool
    refs: list[Ref]  # the remembered questions that voted for the tag, strongest first


class Voting(MemoryIndex):
    power: float
    smoothing: float
    min_votes: int
    review_weight: float

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
            for column, least in named(texts[r], state.taught, self.threshold).items():
                scores[r, column] = max(scores[r, column], least)
        return scores, found

    def best_tags(self, texts: Sequence[str], n: int = 20) -> list[list[tuple[str, float]]]:
        """Each text's ``n`` best (tag, score), best first, zero scores left out: no columns."""
        state = self._state
        texts = list(texts)
        result = []
        for text, (rows, similarities) in zip(texts, self.neighbours(texts, state=state), strict=True):
            columns, values = self.votes(rows, similarities)
            found = named(text, state.taught, self.threshold)
            if found:
                voted = dict(zip(columns.tolist(), values.tolist(), strict=True))
                for column, least in found.items():
                    voted[column] = max(voted.get(column, 0.0), least)
                columns = np.fromiter(voted, dtype=np.int64, count=len(voted))
                values = np.fromiter(voted.values(), dtype=np.float64, count=len(voted))
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

    def reasons(self, text: str, tags: Sequence[str], max_refs: int = MAX_REFS) -> dict[str, list[dict]]:
        """Per tag, the remembered questions among ``text``'s neighbours that carry it, most
        similar first: ``{"kind": "reviewed", "question_id", "title", "weight"}`` for a reviewed
        question, ``{"kind": "similar", "title", "weight"}`` for a seed (training) question.
        Tags the memory does not know, or that no neighbour carries, are left out."""
        columns = {}
        for tag in tags:
            canonical = self._canonical([tag]) if tag.strip() else []
            column = self.column_.get(canonical[0]) if canonical else None
            if column is not None:
                columns[tag] = column
        if not columns:
            return {}
        rows, similarities = self.neighbours([text])[0]
        rows, similarities = rows[: self.k], similarities[: self.k]
        found: dict[str, list[dict]] = {}
        for tag, column in columns.items():
            for row, similarity in zip(rows, similarities, strict=True):
                if column not in self._row_tags[row]:
                    continue
                ref = self._row_refs[row]
                reason: dict = {"kind": "similar" if self.is_seed(ref) else "reviewed"}
                if reason["kind"] == "reviewed":
                    reason["question_id"] = ref
                reason |= {"title": self.ref_title(ref), "weight": round(float(similarity), 4)}
                found.setdefault(tag, []).append(reason)
                if len(found[tag]) == max_refs:
                    break
        return found
