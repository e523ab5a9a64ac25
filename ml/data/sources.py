"""The open-vocabulary training corpus: several sources, each labelling a different tag set.

A question from the 100-tag file that lacks ``docker`` is not a negative for ``docker``:
that file dropped every tag outside its 100. So each source says which tags it labels
(``scope``), and a tag learns only from the questions that can label it:

- ``all``: complete real tag sets (``so_questions_open.jsonl``);
- ``listed``: the tags the file was restricted to (the 100 of ``so_titles_100tags.csv``);
- ``own``: only the question's own tag is known (``so_titles_20tags.jsonl``: a positive
  for it, nothing about any other tag).

Held-out questions come only from sources that can be scored over every real tag (the
open questions) plus the bundled 100-tag split's own validation and test parts, which stay
what they were so that the 100-tag regression check compares like with like. Titles are
deduplicated after normalisation; a held-out title never also appears in training.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from ml.data.catalogue import TagCatalogue, load_catalogue
from ml.data.readers import read_questions
from ml.data.records import Question, ReadReport
from ml.data.split import make_or_load_split
from ml.paths import PROJECT_ROOT, SPLITS_DIR, display_path

SCOPES = ("all", "listed", "own")
PARTS = ("train", "validation", "test")
# Share of the open questions held out for validation and for test, by title hash.
HELD_OUT = (0.1, 0.1)


@dataclass(frozen=True)
class Source:
    name: str
    path: str  # relative to the project
    format: str
    scope: str  # one of SCOPES
    # "keep": use the file's own saved split (validation/test held out, never trained on);
    # "hash": split by title hash; "train": every question is for training.
    split: str = "hash"

    def resolved(self) -> Path:
        return PROJECT_ROOT / self.path


OPEN = Source("open", "data/so_questions_open.jsonl", "jsonl", "all", "hash")
TITLES_100 = Source("titles100", "data/so_titles_100tags.csv", "corpus", "listed", "keep")
TITLES_20 = Source("titles20", "data/so_titles_20tags.jsonl", "jsonl", "own", "train")
DEFAULT_SOURCES = (OPEN, TITLES_100, TITLES_20)

_TITLE_NOISE = re.compile(r"[^\w+#.]+")


def normalised_title(title: str) -> str:
    """The key duplicates share: entities decoded, case folded, punctuation runs as one space."""
    return _TITLE_NOISE.sub(" ", html.unescape(title).casefold()).strip(" .")


def title_part(title: str, seed: int = 0) -> str:
    """A stable train/validation/test assignment from the title alone (order-independent)."""
    digest = hashlib.sha256(f"{seed}:{normalised_title(title)}".encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    validation, test = HELD_OUT
    return "validation" if share < validation else "test" if share < validation + test else "train"


@dataclass
class Corpus:
    """Questions from several sources; ``part[i]`` is train/validation/test, ``source[i]``
    indexes ``sources``; ``listed[s]`` is the tag set of a ``listed`` source."""

    questions: list[Question]
    source: np.ndarray
    part: np.ndarray
    sources: tuple[Source, ...]
    listed: dict[str, frozenset[str]]
    reports: dict[str, dict] = field(default_factory=dict)
    duplicates_dropped: int = 0

    def indices(self, part: str, sources: Sequence[str] | None = None) -> np.ndarray:
        chosen = self.part == part
        if sources is not None:
            wanted = [i for i, s in enumerate(self.sources) if s.name in sources]
            chosen &= np.isin(self.source, wanted)
        return np.flatnonzero(chosen)

    def complete(self, part: str) -> np.ndarray:
        """Questions of this part whose whole real tag set is known (scored over every tag)."""
        return self.indices(part, [s.name for s in self.sources if s.scope == "all"])

    def tag_counts(self, part: str = "train", scope: str | None = None) -> Counter:
        rows = (
            self.indices(part)
            if scope is None
            else self.indices(part, [s.name for s in self.sources if s.scope == scope])
        )
        return Counter(tag for i in rows for tag in self.questions[i].tags)

    def label_matrices(self, rows: np.ndarray, labels: Sequence[str]) -> tuple[sparse.csc_matrix, sparse.csc_matrix]:
        """(targets, known): 0/1 matrices over ``labels``; ``known[i, j]`` says whether
        question i's source labels tag j at all (otherwise its 0 means "unknown")."""
        column = {tag: j for j, tag in enumerate(labels)}
        n_rows, n_labels = len(rows), len(labels)
        target_rows, target_cols, known_rows, known_cols = [], [], [], []
        listed_columns = {
            name: np.array(sorted(column[t] for t in tags if t in column), dtype=np.int64)
            for name, tags in self.listed.items()
        }
        all_columns = np.arange(n_labels)
        for r, i in enumerate(rows):
            question, source = self.questions[i], self.sources[self.source[i]]
            own = [column[t] for t in question.tags if t in column]
            target_rows += [r] * len(own)
            target_cols += own
            known = all_columns if source.scope == "all" else listed_columns.get(source.name, own)
            if source.scope == "own":
                known = np.array(own, dtype=np.int64)
            known_rows.append(np.full(len(known), r))
            known_cols.append(np.asarray(known, dtype=np.int64))
        shape = (n_rows, n_labels)
        targets = sparse.csc_matrix((np.ones(len(target_rows), np.int8), (target_rows, target_cols)), shape=shape)
        known_matrix = sparse.csc_matrix(
            (
                np.ones(sum(len(k) for k in known_cols), np.int8),
                (np.concatenate(known_rows) if known_rows else [], np.concatenate(known_cols) if known_cols else []),
            ),
            shape=shape,
        )
        return targets, known_matrix

    def describe(self) -> dict:
        return {
            "sources": [
                {"name": s.name, "path": s.path, "format": s.format, "scope": s.scope, "split": s.split}
                for s in self.sources
            ],
            "parts": {
                source.name: {part: int(len(self.indices(part, [source.name]))) for part in PARTS}
                for source in self.sources
            },
            "duplicates_dropped": self.duplicates_dropped,
            "read": self.reports,
        }


def load_corpus(
    sources: Sequence[Source] = DEFAULT_SOURCES,
    catalogue: TagCatalogue | None = None,
    seed: int = 0,
    splits_dir: Path | None = SPLITS_DIR,
) -> Corpus:
    catalogue = catalogue or load_catalogue()
    entries: list[tuple[Question, int, str]] = []
    listed: dict[str, frozenset[str]] = {}
    reports: dict[str, dict] = {}
    for s, source in enumerate(sources):
        path = source.resolved()
        report = ReadReport(display_path(path))
        raw = list(read_questions(path, fmt=source.format, report=report))
        reports[source.name] = report.to_dict()
        parts = _parts(source, raw, seed, splits_dir)
        questions = [_canonical(q, catalogue) for q in raw]
        if source.scope == "listed":
            listed[source.name] = frozenset(tag for q in questions for tag in q.tags)
        entries += [(q, s, part) for q, part in zip(questions, parts, strict=True) if q.tags]

    # Held-out titles first, then complete-label sources, so the kept copy is the best one.
    scope_rank = {"all": 0, "listed": 1, "own": 2}
    order = sorted(
        range(len(entries)), key=lambda k: (entries[k][2] == "train", scope_rank[sources[entries[k][1]].scope], k)
    )
    seen: set[str] = set()
    kept: list[int] = []
    for k in order:
        key = normalised_title(entries[k][0].title)
        if key in seen:
            continue
        seen.add(key)
        kept.append(k)
    kept.sort()
    return Corpus(
        questions=[entries[k][0] for k in kept],
        source=np.array([entries[k][1] for k in kept], dtype=np.int64),
        part=np.array([entries[k][2] for k in kept]),
        sources=tuple(sources),
        listed=listed,
        reports=reports,
        duplicates_dropped=len(entries) - len(kept),
    )


def _canonical(question: Question, catalogue: TagCatalogue) -> Question:
    tags = catalogue.canonical_tags(question.tags)
    return question if tags == question.tags else Question(question.title, tags, question.body)


def _parts(source: Source, questions: list[Question], seed: int, splits_dir: Path | None) -> list[str]:
    if source.split == "train":
        return ["train"] * len(questions)
    if source.split == "hash":
        return [title_part(q.title, seed) for q in questions]
    # "keep": the same split file ``python -m ml train`` uses for this data (see ml.training.from_file.load_dataset).
    from ml.data.split import data_hash

    digest = data_hash(questions)
    path = None if splits_dir is None else Path(splits_dir) / f"{Path(source.path).stem}-{digest[:12]}-seed{seed}.json"
    split = make_or_load_split(questions, path=path, seed=seed)
    parts = np.full(len(questions), "train", dtype=object)
    parts[split.validation] = "validation"
    parts[split.test] = "test"
    return list(parts)


def write_jsonl(questions: Sequence[Question], path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for q in questions:
            handle.write(
                json.dumps({"title": q.title, "body": q.body, "tags": list(q.tags)}, ensure_ascii=False) + "\n"
            )
    return path
