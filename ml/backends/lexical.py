"""A lexical tag matcher, after Annif's MLLM: find tag names in the question, then score them.

Candidates are the catalogue's tag names, synonyms and technology aliases found in the
title, the prose and the code: word n-grams joined with hyphens (``react hooks`` ->
``react-hooks``, ``python 3`` -> ``python-3`` -> ``python-3.x``), the same with separators
dropped (``next js`` -> ``nextjs`` -> ``next.js``), and code clues (``import polars``,
``require('express')``, ``#include <boost/...>``, ``using System.Linq;``).

Every catalogue tag is a candidate when the text names it, however rare: a name that is
rare in the data is where the classifiers fail and a name is the best evidence there is.

Each candidate is then scored by a small gradient-boosted model learned on the questions
whose whole tag set is known: where it was found, how often, how it was written (case,
quotes, at the start of the title), how popular the tag is, how often the spelling occurs
as an ordinary word in the training texts, and how often that spelling meant that tag in
training (estimated out-of-fold, so the model never sees a prior computed from its own
answer). That is what tells ``htmx`` or ``pyproject.toml`` from ``swap`` or ``layout``.
It can suggest any catalogue tag, including the many no classifier has examples of.
"""

from __future__ import annotations

import argparse
import math
import re
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np

from ml.artifacts import library_versions, open_artifact, restored_labels, save_artifact, unreadable
from ml.cli_types import positive_int
from ml.data.catalogue import TagCatalogue, load_catalogue, normalise_tag
from ml.predictor import Predictor, Reason, ServingOptions, TrainOptions, boosted_probabilities
from ml.registry import rebuild_hint
from ml.text import TOKEN_PATTERN, split_question

if TYPE_CHECKING:
    from ml.data.sources import Corpus

MATCHER_FILE = "matcher.joblib"
MAX_NGRAM = 3
# Texts whose candidates are kept (``LexicalMatcher.candidates``): a batch's worth.
RECENT_TEXTS = 64
# Out-of-fold priors: P(tag | spelling) is smoothed toward the tag's base rate with this weight.
PRIOR_WEIGHT = 3.0
# The tag counts a training question's features read leave out one of this many parts.
COUNT_FOLDS = 10
_TOKEN = re.compile(TOKEN_PATTERN)
_COMPACT = re.compile(r"[\s.\-_]+")
# Module names in code: Python imports, require/import from in JavaScript, C/C++ includes,
# C# using, Java imports, R library(), PHP use.
_CODE_CLUES = re.compile(
    r"""(?:^|\n|;)\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+)|using\s+([\w.]+)\s*;|library\(\s*([\w.]+)\s*\))"""
    r"""|require\(\s*['"]([@\w./\-]+)['"]\s*\)|from\s+['"]([@\w./\-]+)['"]|#include\s*[<"]([\w./+\-]+)[>"]""",
    re.IGNORECASE,
)
MATCH_KINDS = {"name": 0, "synonym": 1, "alias": 2, "compact": 3, "code": 4}
MATCH_NAMES = {number: name for name, number in MATCH_KINDS.items()}
FEATURES = (
    "prior",
    "prior_support",
    "tag_prior",
    "in_title",
    "title_count",
    "body_count",
    "code_clue",
    "first_position",
    "n_tokens",
    "match_kind",
    "log_popularity",
    "n_candidates",
    "longest_overlap",
    "spelling_frequency",
    "tag_training_questions",
    "written_case",
    "title_start",
    "quoted",
    "spelling_shape",
)
# What the ensemble reads beside each member's score (``LexicalMatcher.evidence``): how the
# question names a tag. The first says whether the title names it.
EVIDENCE = (
    "named in title",
    "times named in the rest",
    "named in quotes",
    "written case",
    "spelling frequency",
    "training questions",
    "spelling shape",
)
NOT_NAMED = (-1.0, 0.0, 0.0, -1.0, 1.0, -1.0, -1.0)
# How a spelling was written where first found: all lower case, Capitalised, ALL CAPS, MiXed.
CASES = {"lower": 0, "capitalised": 1, "upper": 2, "mixed": 3}
_QUOTES = frozenset("`'\"")


def compact(name: str) -> str:
    return _COMPACT.sub("", name.lower())


def written_case(text: str) -> int:
    letters = [c for c in text if c.isalpha()]
    if not letters or all(c.islower() for c in letters):
        return CASES["lower"]
    if all(c.isupper() for c in letters):
        return CASES["upper"] if len(letters) > 1 else CASES["capitalised"]
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return CASES["capitalised"]
    return CASES["mixed"]


def spelling_shape(spelling: str) -> int:
    """0: letters only; 1: with digits; 2: with a dot, plus or hash (``pyproject.toml``,
    ``c++``); 3: words joined by hyphens. Such names are seldom ordinary words."""
    if any(c in ".+#" for c in spelling):
        return 2
    if "-" in spelling:
        return 3
    return 1 if any(c.isdigit() for c in spelling) else 0


@dataclass
class Candidate:
    tag: str
    spelling: str
    kind: int
    n_tokens: int
    title_count: int = 0
    body_count: int = 0
    code_clue: int = 0
    first_position: float = 1.0
    case: int = 0  # CASES, where first found
    title_start: int = 0  # found as the title's first word
    quoted: int = 0  # found between quotes or backticks


class TermIndex:
    """Spellings -> tags: names, synonyms, aliases and separator-free forms of catalogue tags."""

    def __init__(self, catalogue: TagCatalogue, min_count: int = 0):
        self.terms: dict[str, tuple[str, int]] = {}
        tags = [t for t, n in sorted(catalogue.counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count]
        allowed = set(tags)
        for tag in tags:
            self.terms.setdefault(tag, (tag, MATCH_KINDS["name"]))
        for source, target in catalogue.synonyms.items():
            if target in allowed:
                self.terms.setdefault(source, (target, MATCH_KINDS["synonym"]))
        for tag, names in catalogue.aliases.items():
            if tag in allowed:
                for name in names:
                    self.terms.setdefault(normalise_tag(name), (tag, MATCH_KINDS["alias"]))
        self.compact: dict[str, str] = {}
        for term, (tag, _) in self.terms.items():  # most popular first: it keeps a shared compact form
            key = compact(term)
            if len(key) >= 3:
                self.compact.setdefault(key, tag)

    def state(self) -> dict[str, dict]:
        """Plain data, so a saved matcher does not depend on where this class lives."""
        return {"terms": self.terms, "compact": self.compact}

    @classmethod
    def from_state(cls, state: dict[str, dict]) -> TermIndex:
        index = cls.__new__(cls)
        index.terms, index.compact = state["terms"], state["compact"]
        return index

    def lookup(self, tokens: Sequence[str], compacts: Sequence[str] | None = None) -> tuple[str, str, int] | None:
        """The tag these tokens name, if any; ``compacts`` (each token without separators,
        as ``compact`` makes them) saves recomputing them for every n-gram of a long body."""
        spelling = "-".join(tokens)
        found = self.terms.get(spelling)
        if found:
            return spelling, found[0], found[1]
        key = "".join(compacts) if compacts is not None else compact(spelling)
        if len(tokens) > 1 or key != spelling:
            tag = self.compact.get(key)
            if tag:
                return key, tag, MATCH_KINDS["compact"]
        return None


def _quoted(part: str, start: int, end: int) -> bool:
    return (start > 0 and part[start - 1] in _QUOTES) or (end < len(part) and part[end] in _QUOTES)


def find_candidates(index: TermIndex, text: str) -> dict[str, Candidate]:
    title, body = split_question(text)
    found: dict[str, Candidate] = {}
    for field, part in (("title", title), ("body", body)):
        spans = [(m.start(), m.end()) for m in _TOKEN.finditer(part)]
        written = [part[a:b] for a, b in spans]
        tokens = [token.lower() for token in written]
        compacts = [compact(token) for token in tokens]
        n = max(1, len(tokens))
        for start in range(len(tokens)):
            for size in range(MAX_NGRAM, 0, -1):
                if start + size > len(tokens):
                    continue
                match = index.lookup(tokens[start : start + size], compacts[start : start + size])
                if match is None:
                    continue
                spelling, tag, kind = match
                candidate = found.get(tag)
                if candidate is None or size > candidate.n_tokens:
                    old = candidate
                    candidate = found[tag] = Candidate(tag, spelling, kind, size)
                    candidate.case = written_case(" ".join(written[start : start + size]))
                    if old is not None:
                        candidate.title_count, candidate.body_count = old.title_count, old.body_count
                        candidate.first_position, candidate.code_clue = old.first_position, old.code_clue
                        candidate.title_start, candidate.quoted = old.title_start, old.quoted
                if _quoted(part, spans[start][0], spans[start + size - 1][1]):
                    candidate.quoted = 1
                if field == "title":
                    candidate.title_start |= int(start == 0)
                    candidate.title_count += 1
                    candidate.first_position = min(candidate.first_position, start / n)
                else:
                    candidate.body_count += 1
    for clue in _CODE_CLUES.finditer(body):
        module = next(group for group in clue.groups() if group)
        head = module.lstrip("@").replace("/", ".").split(".")[0].lower()
        for term in (head, f"python-{head}"):
            hit = index.terms.get(term)
            if hit:
                candidate = found.setdefault(hit[0], Candidate(hit[0], term, MATCH_KINDS["code"], 1))
                candidate.code_clue += 1
    return found


class LexicalMatcher(Predictor):
    name = "lexical"
    training_data = "corpus"

    def __init__(self, min_count: int = 1, catalogue: TagCatalogue | None = None):
        self.min_count = min_count
        self.catalogue = catalogue
        self.labels: list[str] = []
        self.thresholds_ = np.zeros(0)

    # -- features ---------------------------------------------------------------------------

    def _rows(
        self, candidates: dict[str, Candidate], priors: dict, tag_questions: dict[str, int] | None = None
    ) -> list[list[float]]:
        """One feature row per candidate. ``tag_questions``: for a training question, the tag
        counts without its fold, so that the count never tells its own label; the text's own
        occurrence of a spelling is left out of the spelling count."""
        counts = self.catalogue_counts_
        frequency = self.spelling_frequency_
        training = tag_questions is not None
        tag_questions = self.tag_questions_ if tag_questions is None else tag_questions
        longest = max((c.n_tokens for c in candidates.values()), default=1)
        rows = []
        for c in candidates.values():
            spelled = frequency.get(c.spelling, 0)
            questions = tag_questions.get(c.tag, 0)
            if training:
                spelled = max(0, spelled - 1)
            hits, seen = priors["spelling"].get((c.spelling, c.tag), (0.0, 0.0))
            base = priors["tag"].get(c.tag, priors["default"])
            prior = (hits + PRIOR_WEIGHT * base) / (seen + PRIOR_WEIGHT)
            rows.append(
                [
                    prior,
                    math.log1p(seen),
                    base,
                    float(c.title_count > 0),
                    c.title_count,
                    c.body_count,
                    c.code_clue,
                    c.first_position,
                    c.n_tokens,
                    c.kind,
                    math.log10(1 + counts.get(c.tag, 0)),
                    len(candidates),
                    float(c.n_tokens == longest),
                    math.log10((1 + spelled) / (1 + self.frequency_texts_)),
                    math.log10(1 + questions),
                    c.case,
                    c.title_start,
                    c.quoted,
                    spelling_shape(c.spelling),
                ]
            )
        return rows

    @staticmethod
    def _priors(candidate_sets: Iterable[dict[str, Candidate]], gold: Iterable[set[str]]) -> dict:
        spelling: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        tag_hits: Counter[str] = Counter()
        tag_seen: Counter = Counter()
        for candidates, tags in zip(candidate_sets, gold, strict=True):
            for c in candidates.values():
                hit = float(c.tag in tags)
                entry = spelling[(c.spelling, c.tag)]
                entry[0] += hit
                entry[1] += 1
                tag_hits[c.tag] += int(hit)
                tag_seen[c.tag] += 1
        total_hits, total_seen = sum(tag_hits.values()), sum(tag_seen.values())
        default = total_hits / total_seen if total_seen else 0.1
        tag = {t: (tag_hits[t] + PRIOR_WEIGHT * default) / (tag_seen[t] + PRIOR_WEIGHT) for t in tag_seen}
        return {"spelling": {key: tuple(value) for key, value in spelling.items()}, "tag": tag, "default": default}

    def fit(
        self,
        texts: Sequence[str],
        gold: list[set[str]],
        seed: int = 0,
        other_texts: Sequence[str] = (),
        other_tags: Sequence[Iterable[str]] = (),
    ) -> LexicalMatcher:
        """Learn the scorer on ``texts`` with their complete ``gold`` tag sets. How often each
        spelling occurs and how many questions carry each tag are counted over these and the
        ``other_texts`` / ``other_tags`` (training questions whose tag sets are partial)."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        catalogue = self.catalogue or load_catalogue()
        self.index_ = TermIndex(catalogue, self.min_count)
        self.catalogue_counts_ = {tag: catalogue.counts[tag] for tag, _ in set(self.index_.terms.values())}
        self.labels_ = sorted(self.catalogue_counts_, key=lambda t: (-self.catalogue_counts_[t], t))
        self.column_ = {tag: j for j, tag in enumerate(self.labels)}
        candidate_sets = [find_candidates(self.index_, text) for text in texts]
        frequency: Counter[str] = Counter()
        for candidates in candidate_sets:
            frequency.update({c.spelling for c in candidates.values()})
        for text in other_texts:
            frequency.update({c.spelling for c in find_candidates(self.index_, text).values()})
        self.spelling_frequency_ = dict(frequency)
        self.frequency_texts_ = len(texts) + len(other_texts)
        tag_questions: Counter[str] = Counter()
        for tags in [*gold, *other_tags]:
            tag_questions.update(set(tags))
        self.tag_questions_ = dict(tag_questions)
        # Two folds: each half's features use priors counted on the other half only. The tag
        # counts leave out a tenth of the questions, the row's own among them: leaving out the
        # row alone would lower a tag's count exactly when it is the answer, and the scorer
        # would learn that a tag counted once less is more likely right.
        rng = np.random.default_rng(seed)
        fold = rng.integers(0, 2, len(candidate_sets))
        tenth = rng.integers(0, COUNT_FOLDS, len(candidate_sets))
        fold_counts: list[Counter[str]] = [Counter() for _ in range(COUNT_FOLDS)]
        for tags, part in zip(gold, tenth.tolist(), strict=True):
            fold_counts[part].update(set(tags))
        counts_without = [dict(tag_questions - part) for part in fold_counts]
        features: list[list[float]] = []
        targets: list[int] = []
        for k in (0, 1):
            other = [i for i in range(len(candidate_sets)) if fold[i] != k]
            priors = self._priors([candidate_sets[i] for i in other], [gold[i] for i in other])
            for i in np.flatnonzero(fold == k).tolist():
                candidates = candidate_sets[i]
                features += self._rows(candidates, priors, counts_without[tenth[i]])
                targets += [int(c.tag in gold[i]) for c in candidates.values()]
        self.priors_ = self._priors(candidate_sets, gold)
        self.scorer_ = HistGradientBoostingClassifier(
            max_iter=60, learning_rate=0.25, max_leaf_nodes=31, random_state=seed
        )
        self.scorer_.fit(np.asarray(features, dtype=np.float64), np.asarray(targets))
        self.training_candidates_ = len(targets)
        self.candidate_recall_ = sum(len(gold[i] & set(candidate_sets[i])) for i in range(len(gold))) / max(
            1, sum(len(g) for g in gold)
        )
        self.thresholds_ = np.full(len(self.labels), 0.5)
        return self

    def candidates(self, text: str) -> dict[str, Candidate]:
        """The tags ``text`` names. The ensemble asks twice per question (scores, then
        evidence), so the last few answers are kept; they are never modified."""
        recent = self.__dict__.setdefault("_recent", OrderedDict())
        found = recent.get(text)
        if found is None:
            found = find_candidates(self.index_, text)
            recent[text] = found
            while len(recent) > RECENT_TEXTS:
                try:
                    recent.popitem(last=False)
                except KeyError:  # another thread emptied it meanwhile
                    break
        return found

    def evidence(self, text: str) -> dict[str, tuple[float, ...]]:
        """Per tag the text names, how (``EVIDENCE``); a tag it does not name: ``NOT_NAMED``."""
        found: dict[str, tuple[float, ...]] = {}
        for tag, c in self.candidates(text).items():
            spelled = self.spelling_frequency_.get(c.spelling, 0)
            found[tag] = (
                float(c.title_count > 0),
                float(c.body_count),
                float(c.quoted),
                float(c.case),
                math.log10((1 + spelled) / (1 + self.frequency_texts_)),
                math.log10(1 + self.tag_questions_.get(tag, 0)),
                float(spelling_shape(c.spelling)),
            )
        return found

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        scores = np.zeros((len(texts), len(self.labels)))
        found = [self.candidates(text) for text in texts]
        rows = [row for candidates in found for row in self._rows(candidates, self.priors_)]
        if not rows:
            return scores
        probabilities = boosted_probabilities(self.scorer_, np.asarray(rows, dtype=np.float64))
        k = 0
        for r, candidates in enumerate(found):
            for tag in candidates:
                scores[r, self.column_[tag]] = probabilities[k]
                k += 1
        return scores

    def reasons(self, text: str, tags: Sequence[str]) -> dict[str, list[Reason]]:
        """The spelling found for each tag, where, and how often: what the matcher's scorer read."""
        wanted = set(tags)
        found: dict[str, list[Reason]] = {}
        for tag, candidate in self.candidates(text).items():
            if tag not in wanted:
                continue
            places = [
                place
                for place, count in (
                    ("title", candidate.title_count),
                    ("body", candidate.body_count),
                    ("code", candidate.code_clue),
                )
                if count
            ]
            found[tag] = [
                {
                    "kind": "phrase",
                    "text": candidate.spelling,
                    "weight": float(candidate.title_count + candidate.body_count + candidate.code_clue),
                    "match": MATCH_NAMES[candidate.kind],
                    "where": places,
                }
            ]
        return found

    # -- training ---------------------------------------------------------------------------

    @classmethod
    def add_train_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(
            "--lexical-min-count",
            type=positive_int,
            default=1,
            help="match catalogue tags with at least this many Stack Overflow questions (default: %(default)s, all)",
        )

    @classmethod
    def train(cls, dataset: Any, options: TrainOptions) -> dict[str, Any]:
        from ml.training.open_corpus import gold_sets, texts, tune_test_save

        corpus: Corpus = dataset
        model = cls(min_count=options.params.get("lexical_min_count") or 1)
        rows = corpus.complete("train")
        partial = np.setdiff1d(corpus.indices("train"), rows)
        started = time.perf_counter()
        model.fit(
            texts(corpus, rows),
            gold_sets(corpus, rows),
            seed=options.seed,
            other_texts=texts(corpus, partial),
            other_tags=[corpus.questions[i].tags for i in partial],
        )
        return tune_test_save(
            model,
            corpus,
            options,
            time.perf_counter() - started,
            training_questions=len(rows),
            training_candidates=model.training_candidates_,
            candidate_recall=round(model.candidate_recall_, 4),
        )

    @classmethod
    def training_notes(cls, metadata: dict[str, Any]) -> list[str]:
        return [
            f"{len(metadata['labels'])} catalogue tags",
            f"{metadata['candidate_recall']:.1%} of training gold tags found as candidates",
            f"fit in {metadata['train_seconds']:.1f} s",
        ]

    # -- artifact ---------------------------------------------------------------------------

    def save(self, folder: Path, metadata: dict[str, Any]) -> Path:
        metadata = dict(
            metadata,
            model=self.name,
            labels=self.labels,
            params={"min_count": self.min_count},
            features=list(FEATURES),
            thresholds={"per_tag": [float(t) for t in self.thresholds], **metadata.get("thresholds", {})},
            library_versions=library_versions("scikit-learn", "numpy"),
        )
        state = {
            "index": self.index_.state(),
            "counts": self.catalogue_counts_,
            "priors": self.priors_,
            "scorer": self.scorer_,
            "spelling_frequency": self.spelling_frequency_,
            "frequency_texts": self.frequency_texts_,
            "tag_questions": self.tag_questions_,
        }
        save_artifact(folder, {MATCHER_FILE: lambda path: joblib.dump(state, path, compress=3)}, metadata)
        self.metadata = metadata
        return Path(folder)

    @classmethod
    def load(cls, folder: Path, options: ServingOptions | None = None) -> LexicalMatcher:
        import sklearn

        folder = Path(folder)
        hint = rebuild_hint(cls.name)
        metadata = open_artifact(folder, cls.name, hint, {"scikit-learn": sklearn.__version__})
        model = cls(**metadata.get("params", {}))
        try:
            state = joblib.load(folder / MATCHER_FILE)
            model.index_ = TermIndex.from_state(state["index"])
            model.catalogue_counts_ = state["counts"]
            model.priors_, model.scorer_ = state["priors"], state["scorer"]
            model.spelling_frequency_ = state["spelling_frequency"]
            model.frequency_texts_ = state["frequency_texts"]
            model.tag_questions_ = state["tag_questions"]
        except Exception as error:
            raise unreadable(folder, error, hint) from error
        model.labels_, model.thresholds_ = restored_labels(metadata, folder)
        model.column_ = {tag: j for j, tag in enumerate(model.labels)}
        model.metadata = metadata
        return model
