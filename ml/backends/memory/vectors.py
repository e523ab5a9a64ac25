"""The memory's vectors: sublinear TF-IDF of word 1-2-grams, with hashed columns for words
the vectoriser never saw (a library born after the training data)."""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Self

import numpy as np
from scipy import sparse

from ml.text import TOKEN_PATTERN

# Hashed columns for words the vectoriser never saw (2**18: collisions are rare among the few
# thousand new words a site meets, and each index segment's postings hold one pointer per column).
OOV_BUCKETS = 1 << 18
_TOKEN = re.compile(TOKEN_PATTERN)


def grams(text: str) -> list[str]:
    """Lower-cased word 1- and 2-grams, as ``TfidfVectorizer(ngram_range=(1, 2))`` makes them."""
    tokens = _TOKEN.findall(text.lower())
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


class GramVectoriser:
    """The vectoriser half of ``ReviewMemory``: fitted once, then reads any text."""

    min_df: int
    oov: bool
    vocabulary_: dict[str, int]
    idf_: np.ndarray
    oov_idf_: float

    @property
    def n_features(self) -> int:
        return len(self.vocabulary_) + (OOV_BUCKETS if self.oov else 0)

    def fit_vectoriser(self, texts: Sequence[str]) -> Self:
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
