"""The ensemble: a small learned combiner over the other models' best tags.

Each member proposes its best tags with scores. For every tag proposed, the combiner
sees each member's score and rank, whether the member could have proposed the tag at all
(the 100-tag models know nothing of docker: their silence is no evidence), and how many
members proposed it; a gradient-boosted classifier turns that into the probability that
the tag is right. It is learned on the validation questions whose whole tag set is known:
two folds give out-of-fold probabilities (three halvings, averaged) to choose the
thresholds on, then it is refitted on all of them. On validation it beat a weighted mean
of the scores.

A member that learns while serving (the memory of reviewed questions) is read through its
``best_tags``: a tag reviewers added becomes a new last column of the ensemble too, and a tag
no other member knows gets at least the memory's own verdict (``floors``), since the combiner
never met such a tag on validation. A tag reviewers keep rejecting in favour of another hands
its probability to that other (``_replaced``): reviews know of renamed tags, validation does not.
A tag the ensemble used to find (its out-of-fold recall on validation, saved with it) but that
reviewers now keep adding themselves (dart beside a renamed flutter: the memory's ``missed``)
gets the memory's verdict as its floor too.

Members are loaded through the registry's shared loader, so a site serving the ensemble
beside its members holds each model once. The members trained on titles alone, or whose
reading of a long body costs more than it adds (the transformer, several times slower with a
body), read only the title (``--title-only``).
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np

from ml.artifacts import library_versions, open_artifact, save_artifact, unreadable
from ml.backends.lexical import EVIDENCE, NOT_NAMED
from ml.data.catalogue import load_catalogue
from ml.errors import ArtifactError, ModelUnavailable
from ml.predictor import Predictor, Reason, ServingOptions, TrainOptions, boosted_probabilities
from ml.registry import load_predictor, rebuild_hint
from ml.text import split_question

if TYPE_CHECKING:
    from ml.data.sources import Corpus

DEFAULT_MEMBERS = ("lexical", "omikuji", "baseline", "transformer", "memory")
# Members trained on titles alone read only the title: on validation the same quality at a
# fraction of the time.
DEFAULT_TITLE_ONLY = ("baseline", "transformer")
COMBINER_FILE = "combiner.joblib"
# How often the ensemble found each tag on validation (out of fold): what the learning member
# compares reviews with to tell a tag the models stopped finding from one they never found well.
RECALL_FILE = "validation_recall.json"
# A tag seen on few validation questions is assumed missed about as often as all tags are,
# as if RECALL_PRIOR more questions had shown the overall rate.
RECALL_PRIOR = 5
# Each member's best tags that become candidates; an absent tag gets rank MISSING_RANK.
MEMBER_TOP = 20
MISSING_RANK = 50
# A tag only a learning member knows passes when that member's score reaches 1 / FLOOR_SCALE
# of its own threshold: 1, the member's own verdict. A larger scale helped a renamed library
# (bench/review_learning_api.py) a little but cost more on the open test questions (weak
# memory-only tags let through).
FLOOR_SCALE = 1.0
# Whether the ensemble learns from reviewers' verdicts: a tag they keep replacing (the memory's
# ``replacement``: shown on MIN_SHOWN reviewed questions, replaced by the same tag on MIN_RATE of
# them) hands its probability to the tag that replaces it, and a known tag they keep adding (the
# memory's ``missed``) gets the memory's verdict as its floor. bench/review_replacements.py
# measured both on streams that are not the test questions.
REPLACEMENTS = True
# (member, text) pairs whose best tags are kept, most recent first: a few dozen people typing.
RECENT_TEXTS = 256
# A tag the title names gets a threshold of its own: the lowest at which the out-of-fold
# all-tag micro-F1 on validation stays within NAMED_F1_GIVE of the best single threshold's.
# A named tag left off is the failure people notice; a little precision buys it back.
NAMED_F1_GIVE = 0.002
# Both thresholds are chosen on the mean of this many out-of-fold runs (other halvings of
# validation): on one alone, noise far below any real difference moved the named threshold
# and named recall with it (docs/benchmarks.md, figures behind the code's choices).
OUT_OF_FOLD_RUNS = 3


def recall_counts(gold: Sequence[set[str]], chosen: Sequence[Sequence[str]]) -> dict[str, list[int]]:
    """Per tag: [questions where it was chosen and right, questions where it was right]."""
    counts: dict[str, list[int]] = {}
    for right, picked in zip(gold, chosen, strict=True):
        for tag in right:
            count = counts.setdefault(tag, [0, 0])
            count[0] += tag in picked
            count[1] += 1
    return counts


def new_combiner(seed: int) -> Any:
    """The combiner, unfitted: gradient-boosted trees over the candidates' features. Small
    trees learning slowly: out of fold on validation they beat scikit-learn's defaults by a
    little (bench/combiner_probe.py), for a little more time per question (more trees)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=15, random_state=seed)


def out_of_fold_probabilities(
    features: np.ndarray, hits: np.ndarray, owner: np.ndarray, n_rows: int, seed: int
) -> np.ndarray:
    """Each candidate's probability from a combiner fitted on the other half of the questions
    (``owner``: each candidate's question), so thresholds are chosen on unseen answers."""
    fold = np.random.default_rng(seed).integers(0, 2, n_rows)[owner]
    probabilities = np.zeros(len(hits))
    for k in (0, 1):
        fitted = new_combiner(seed).fit(features[fold != k], hits[fold != k])
        probabilities[fold == k] = fitted.predict_proba(features[fold == k])[:, 1]
    return probabilities


class EnsembleTagger(Predictor):
    name = "ensemble"
    training_data = "corpus"
    grows_labels = True  # it appends the tags a learning member (the memory) proposes

    def __init__(self, members: dict[str, Predictor], title_only: Sequence[str] = ()):
        # Sorted by name: features and the union of labels come out the same at training and loading.
        self.members = {name: members[name] for name in sorted(members)}
        self.title_only = [name for name in self.members if name in title_only]
        catalogue = load_catalogue()
        union: dict[str, int] = {}
        self.keep_: dict[str, np.ndarray] = {}  # member columns used: the first of labels sharing a name
        self.names_: dict[str, list[str]] = {}  # canonical names of those columns
        for name, model in self.members.items():
            first: dict[str, int] = {}
            # A member that learns while serving (the memory) is read through best_tags: its
            # labels as saved fix the ensemble's first columns, and later ones are appended.
            labels = getattr(model, "base_labels", model.labels) if model.grows_labels else model.labels
            for j, tag in enumerate(labels):  # osx and macos are one tag today
                first.setdefault(catalogue.canonical(tag), j)
            for tag in first:
                union.setdefault(tag, len(union))
            self.keep_[name] = np.array(list(first.values()), dtype=np.int64)
            self.names_[name] = list(first)
        self.labels_ = list(union)
        self.column_ = union
        self.vocabularies_ = {name: set(tags) for name, tags in self.names_.items()}
        self.popularity_ = {tag: catalogue.counts.get(tag, 0) for tag in self.labels}
        self.thresholds_ = np.full(len(self.labels), 0.5)
        self.growing_ = [name for name, model in self.members.items() if model.grows_labels]
        self._grow_lock = threading.Lock()
        self._recent: OrderedDict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._recent_lock = threading.Lock()
        self.recent_texts = RECENT_TEXTS  # 0: remember nothing (bench/live_suggest.py compares)
        self.replacements = REPLACEMENTS
        self.validation_recall_: dict[str, list[int]] = {}
        # The member that says how the question names each tag (the lexical matcher), if any.
        self.evidence_member = next((name for name, m in self.members.items() if hasattr(m, "evidence")), None)
        self.named_threshold_: float | None = None

    def knows(self, member: str, tag: str) -> bool:
        """Whether the member could have proposed the tag: a learning member knows a tag once
        any question it remembers carries it."""
        model = self.members[member]
        if member in self.growing_:
            return tag in getattr(model, "column_", {})
        return tag in self.vocabularies_[member]

    def _grow(self, tags: Sequence[str]) -> None:
        """Append columns for tags only a learning member proposes (thresholds first, so
        ``len(thresholds) >= len(labels)`` holds for a prediction running meanwhile)."""
        with self._grow_lock:
            new = [tag for tag in dict.fromkeys(tags) if tag not in self.column_]
            if not new:
                return
            self.thresholds_ = np.concatenate([self.thresholds, np.full(len(new), self.threshold_)])
            for tag in new:
                self.popularity_.setdefault(tag, load_catalogue().counts.get(tag, 0))
                self.column_[tag] = len(self.labels)
                self.labels.append(tag)

    @property
    def threshold_(self) -> float:
        return float(self.thresholds[0]) if len(self.thresholds) else 0.5

    def _remember(self, key: tuple[str, str], top: tuple[np.ndarray, np.ndarray]) -> None:
        """Keep a member's best tags for one text. While someone types a question's body, the
        title-only members read the same title again and again (suggestions while typing,
        then the submit): they answer from here instead of running again."""
        with self._recent_lock:
            self._recent[key] = top
            self._recent.move_to_end(key)
            while len(self._recent) > self.recent_texts:
                self._recent.popitem(last=False)

    @property
    def feature_names(self) -> list[str]:
        names = list(self.members)
        evidence = [f"{self.evidence_member} {name}" for name in EVIDENCE] if self.evidence_member else []
        return (
            [f"{m} score" for m in names]
            + [f"{m} rank" for m in names]
            + [f"{m} knows" for m in names]
            + ["members proposing", "log10 questions with the tag", "candidates"]
            + evidence
        )

    def _named(self, features: np.ndarray) -> np.ndarray:
        """Which candidate rows the title names (the evidence member's first column)."""
        if self.evidence_member is None or not len(features):
            return np.zeros(len(features), dtype=bool)
        return features[:, 3 * len(self.members) + 3] == 1

    def _lift(self, probabilities: np.ndarray, named: np.ndarray, named_threshold: float | None) -> np.ndarray:
        """Named candidates' probabilities mapped so that ``named_threshold`` lands on the
        global threshold: monotone and continuous, 0 and 1 stay where they are."""
        if named_threshold is None or not named.any():
            return probabilities
        threshold = self.threshold_
        p = probabilities[named]
        lifted = np.where(
            p >= named_threshold,
            threshold + (p - named_threshold) * (1 - threshold) / max(1e-9, 1 - named_threshold),
            p * threshold / max(1e-9, named_threshold),
        )
        out = probabilities.copy()
        out[named] = np.clip(lifted, 0.0, 1.0)
        return out

    def candidates(self, texts: Sequence[str]) -> tuple[list[list[str]], np.ndarray]:
        """Each text's candidate tags and one feature row per candidate, in order."""
        from ml.training.open_corpus import top_of

        texts = list(texts)
        titles = [split_question(text)[0] for text in texts] if self.title_only else []
        proposed: list[dict[str, dict[str, tuple[float, int]]]] = [{} for _ in texts]
        for name, model in self.members.items():
            member_texts = titles if name in self.title_only else texts
            if name in self.growing_:
                for row, best in enumerate(model.best_tags(member_texts, MEMBER_TOP)):  # type: ignore[attr-defined]
                    for rank, (tag, value) in enumerate(best):
                        proposed[row].setdefault(tag, {})[name] = (float(value), rank)
                continue
            # Only the title-only members are remembered: their text repeats while the body is
            # typed, and they are fixed models (a member that learns online would go stale).
            reusable = name in self.title_only and len(member_texts) == 1
            remembered = self._recent.get((name, member_texts[0])) if reusable else None
            if remembered is None:
                columns, values = top_of(model.predict_scores(member_texts)[:, self.keep_[name]], MEMBER_TOP)
                if reusable:
                    self._remember((name, member_texts[0]), (columns, values))
            else:
                columns, values = remembered
            labels = self.names_[name]
            for row, (row_columns, row_values) in enumerate(zip(columns, values, strict=True)):
                for rank, (j, value) in enumerate(zip(row_columns, row_values, strict=True)):
                    if value > 0:
                        proposed[row].setdefault(labels[j], {})[name] = (float(value), rank)
        names = list(self.members)
        evidence: list[dict[str, tuple[float, ...]]] = [{} for _ in texts]
        if self.evidence_member is not None:
            reader: Any = self.members[self.evidence_member]
            read = titles if self.evidence_member in self.title_only else texts
            evidence = [reader.evidence(text) for text in read]
        tags_per_row, features = [], []
        for candidates, named in zip(proposed, evidence, strict=True):
            tags_per_row.append(list(candidates))
            for tag, by_member in candidates.items():
                found = [by_member.get(m, (0.0, MISSING_RANK)) for m in names]
                features.append(
                    [score for score, _ in found]
                    + [rank for _, rank in found]
                    + [float(self.knows(m, tag)) for m in names]
                    + [len(by_member), math.log10(1 + self.popularity_.get(tag, 0)), len(candidates)]
                    + (list(named.get(tag, NOT_NAMED)) if self.evidence_member else [])
                )
        width = 3 * len(names) + 3 + (len(EVIDENCE) if self.evidence_member else 0)
        return tags_per_row, np.asarray(features, dtype=np.float64).reshape(-1, width)

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        tags_per_row, features = self.candidates(texts)
        self._grow([tag for tags in tags_per_row for tag in tags])
        scores = np.zeros((len(texts), len(self.labels)))
        if not len(features):
            return scores
        owner = np.repeat(np.arange(len(tags_per_row)), [len(tags) for tags in tags_per_row])
        flat = [tag for tags in tags_per_row for tag in tags]
        probabilities = self._lift(
            boosted_probabilities(self.combiner_, features), self._named(features), self.named_threshold_
        )
        probabilities = np.maximum(probabilities, self.floors(features, owner, flat))
        k = 0
        for row, tags in enumerate(tags_per_row):
            for tag in tags:
                scores[row, self.column_[tag]] = probabilities[k]
                k += 1
        return self._replaced(tags_per_row, scores)

    def _replaced(self, tags_per_row: list[list[str]], scores: np.ndarray) -> np.ndarray:
        """Each candidate that reviewers keep replacing by another tag (``replacement`` of the
        learning member, at ``rate``) hands ``rate`` of its probability to that tag and keeps
        the rest: a renamed library's old tag, rejected on every reviewed question that showed
        it, moves wholly onto the new one wherever the models still propose the old. The
        combiner learned on validation, where nobody had replaced anything."""
        replacement = getattr(self._learner(), "replacement", None) if self.replacements else None
        if replacement is None:
            return scores
        for row, tags in enumerate(tags_per_row):
            moved: dict[str, float] = {}
            for tag in tags:
                found = replacement(tag)
                if found is not None:
                    other, rate = found
                    column = self.column_[tag]
                    moved[other] = max(moved.get(other, 0.0), scores[row, column] * rate)
                    scores[row, column] *= 1 - rate
            if moved:
                self._grow(list(moved))
                if scores.shape[1] < len(self.labels):
                    scores = np.pad(scores, ((0, 0), (0, len(self.labels) - scores.shape[1])))
                for other, probability in moved.items():
                    column = self.column_[other]
                    scores[row, column] = max(scores[row, column], probability)
        return scores

    def _learner(self) -> Predictor | None:
        """The member that learns from reviews (the first whose labels grow), if any: its
        ``replacement``, ``replacing`` and ``missed`` are what reviewers taught."""
        return self.members[self.growing_[0]] if self.growing_ else None

    def _expect_misses(self) -> None:
        """Tell the learning member how often each tag went unfound on validation (smoothed
        toward the overall rate): its ``missed`` flags tags reviewers add far more often."""
        learner: Any = self._learner()
        if learner is None or not hasattr(learner, "expected_miss"):
            return
        counts = self.validation_recall_
        found = sum(f for f, _ in counts.values())
        right = sum(r for _, r in counts.values())
        overall = 1 - found / right if right else 1.0
        learner.expected_miss = {
            tag: (r - f + RECALL_PRIOR * overall) / (r + RECALL_PRIOR) for tag, (f, r) in counts.items()
        }
        learner.expected_miss_default = overall

    def floors(self, features: np.ndarray, owner: np.ndarray, tags: Sequence[str] = ()) -> np.ndarray:
        """The least probability of each candidate (``owner``: the question of each feature
        row). The combiner learned on validation, where a tag no other member knows (one
        reviewers added) hardly occurs, and must not silence it: each question's strongest
        such tag gets the learning member's score, rescaled so that ``1 / FLOOR_SCALE`` of the
        member's own threshold lands on the ensemble's. One a question: its variants
        (flutter-layout beside flutter) ride on the same neighbours, and letting them all
        through cost micro-F1 on a new library (bench/review_learning_api.py). Every known tag
        (of ``tags``, one per feature row) the member flags as ``missed`` gets the same floor."""
        floors = np.zeros(len(features))
        names = list(self.members)
        if not self.growing_ or not len(features):
            return floors
        missed_floors = np.zeros(len(features))
        fixed = [i for i, name in enumerate(names) if name not in self.growing_]
        knows = features[:, 2 * len(names) : 3 * len(names)]
        unknown_elsewhere = ~knows[:, fixed].any(axis=1) if fixed else np.ones(len(features), dtype=bool)
        for name in self.growing_:
            i = names.index(name)
            own = float(getattr(self.members[name], "threshold", 0.5)) or 0.5
            rescaled = np.minimum(features[:, i] * FLOOR_SCALE * self.threshold_ / own, 1.0)
            floors = np.maximum(floors, np.where(unknown_elsewhere, rescaled, 0.0))
            missed = getattr(self.members[name], "missed", None)
            if self.replacements and missed is not None and len(tags):
                flagged = np.array([missed(tag) is not None for tag in tags], dtype=bool)
                missed_floors = np.maximum(missed_floors, np.where(flagged & ~unknown_elsewhere, rescaled, 0.0))
        # Only each question's best floor stands.
        best = np.zeros(int(owner.max()) + 1 if len(owner) else 0)
        np.maximum.at(best, owner, floors)
        first = np.zeros(len(floors), dtype=bool)
        for row in np.flatnonzero(best > 0):
            first[np.flatnonzero((owner == row) & (floors == best[row]))[0]] = True
        return np.maximum(np.where(first, floors, 0.0), missed_floors)

    def reasons(self, text: str, tags: Sequence[str]) -> dict[str, list[Reason]]:
        """Each member's reasons for the tags, labelled with the member, read from the same
        text the member reads here (a title-only member: the title); and for a tag reviewers
        put in place of another that was proposed here, ``{"kind": "replaced", "text": the
        other tag, "weight": how often they replaced it}``."""
        title = split_question(text)[0]
        merged: dict[str, list[Reason]] = {}
        for name, model in self.members.items():
            for tag, reasons in model.reasons(title if name in self.title_only else text, tags).items():
                merged.setdefault(tag, []).extend({**reason, "model": name} for reason in reasons)
        learner = self._learner()
        if self.replacements and learner is not None:
            proposed: set[str] | None = None
            for tag in tags:
                for wrong, rate in getattr(learner, "replacing", lambda _: [])(tag):
                    proposed = set(self.candidates([text])[0][0]) if proposed is None else proposed
                    if wrong in proposed:  # the replaced tag was proposed here: it moved onto this one
                        reason = {"kind": "replaced", "text": wrong, "weight": round(rate, 4)}
                        merged.setdefault(tag, []).append({**reason, "model": self.growing_[0]})
        return merged

    # -- training: the combiner and its threshold, learned on validation ------------------------

    @classmethod
    def add_train_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(
            "--members",
            default=",".join(DEFAULT_MEMBERS),
            help="comma-separated models to combine, each already trained (default: %(default)s)",
        )
        group.add_argument(
            "--title-only",
            default=",".join(DEFAULT_TITLE_ONLY),
            help="members that read only the title, having learned from titles alone (default: %(default)s)",
        )

    @classmethod
    def train(cls, dataset: Any, options: TrainOptions) -> dict[str, Any]:
        from ml.training.open_corpus import gold_sets, texts, tune_test_save

        corpus: Corpus = dataset
        names = [name.strip() for name in str(options.params.get("members") or ",".join(DEFAULT_MEMBERS)).split(",")]
        members = {}
        for name in names:
            try:
                members[name] = load_predictor(name, options.output.parent)
            except ModelUnavailable as error:
                raise ModelUnavailable(
                    f"the ensemble needs the {name} model first: {error}", {name: str(error)}
                ) from error
        started = time.perf_counter()
        title_only = str(
            options.params.get("title_only")
            if options.params.get("title_only") is not None
            else ",".join(DEFAULT_TITLE_ONLY)
        )
        model = cls(members, title_only=[name.strip() for name in title_only.split(",") if name.strip()])
        validation = corpus.complete("validation")
        threshold, out_of_fold = model.fit(texts(corpus, validation), gold_sets(corpus, validation), options.seed)
        return tune_test_save(
            model,
            corpus,
            options,
            time.perf_counter() - started,
            threshold=threshold,
            validation_metrics={"all": out_of_fold, "out_of_fold": True},
            member_versions={name: member.version for name, member in model.members.items()},
            title_only=model.title_only,
            features=model.feature_names,
        )

    def fit(self, texts: Sequence[str], gold: Sequence[set[str]], seed: int = 0) -> tuple[float, dict[str, Any]]:
        """Learn the combiner on these questions; returns the threshold chosen on its
        out-of-fold probabilities (the mean of ``OUT_OF_FOLD_RUNS`` halvings) and the
        out-of-fold all-tag metrics there, averaged the same way."""
        from ml.evaluate import all_tag_metrics
        from ml.training.open_corpus import THRESHOLD_GRID, chosen_and_ranked

        tags_per_row, features = self.candidates(texts)
        self._grow([tag for tags in tags_per_row for tag in tags])
        owner = np.repeat(np.arange(len(tags_per_row)), [len(tags) for tags in tags_per_row])
        flat_tags = [tag for tags in tags_per_row for tag in tags]
        hits = np.array([tag in gold[row] for tag, row in zip(flat_tags, owner.tolist(), strict=True)], dtype=np.int64)
        runs = [
            out_of_fold_probabilities(features, hits, owner, len(tags_per_row), seed + run)
            for run in range(OUT_OF_FOLD_RUNS)
        ]
        self.combiner_ = new_combiner(seed).fit(features, hits)
        named = self._named(features)

        def ordered(named_threshold: float | None) -> list[tuple[np.ndarray, np.ndarray]]:
            return [self.ranked_candidates(tags_per_row, self._lift(p, named, named_threshold)) for p in runs]

        def scored(
            threshold: float, tops: list[tuple[np.ndarray, np.ndarray]]
        ) -> tuple[dict[str, Any], list[list[str]]]:
            """The metrics averaged over the runs, and the first run's chosen tags."""
            found = []
            for top in tops:
                chosen, ranked = chosen_and_ranked(top, self.labels, threshold)
                found.append((all_tag_metrics(list(gold), chosen, ranked), chosen))
            mean = {
                key: float(np.mean([metrics[key] for metrics, _ in found])) if isinstance(value, float) else value
                for key, value in found[0][0].items()
            }
            return mean, found[0][1]

        self.named_threshold_ = None
        best: tuple[float, float, dict[str, Any], list[list[str]]] = (-1.0, 0.5, {}, [])
        plain = ordered(None)
        for threshold in THRESHOLD_GRID:
            metrics, chosen = scored(float(threshold), plain)
            if metrics["micro_f1"] > best[0]:
                best = (metrics["micro_f1"], float(threshold), metrics, chosen)
        best_f1, threshold, metrics, chosen = best
        self.thresholds_ = np.full(len(self.labels), threshold)
        for named_threshold in THRESHOLD_GRID[threshold > THRESHOLD_GRID]:  # lowest first
            found, tried = scored(threshold, ordered(float(named_threshold)))
            if found["micro_f1"] >= best_f1 - NAMED_F1_GIVE:
                self.named_threshold_, metrics, chosen = float(named_threshold), found, tried
                break
        self.validation_recall_ = recall_counts(gold, chosen)
        self._expect_misses()
        return threshold, metrics

    def ranked_candidates(
        self, tags_per_row: list[list[str]], probabilities: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidates' probabilities (flat, in ``candidates`` order) as (columns, values) of
        each row's candidates, best first: what ``chosen_and_ranked`` reads."""
        width = max(1, max((len(tags) for tags in tags_per_row), default=1))
        columns = np.zeros((len(tags_per_row), width), dtype=np.int64)
        values = np.zeros((len(tags_per_row), width))
        start = 0
        for row, tags in enumerate(tags_per_row):
            part = probabilities[start : start + len(tags)]
            order = np.argsort(-part, kind="stable")
            columns[row, : len(tags)] = [self.column_[tags[i]] for i in order]
            values[row, : len(tags)] = part[order]
            start += len(tags)
        return columns, values

    @classmethod
    def training_notes(cls, metadata: dict[str, Any]) -> list[str]:
        members = ", ".join(metadata["member_versions"])
        return [f"members {members}", f"{len(metadata['labels'])} tags", f"built in {metadata['train_seconds']:.0f} s"]

    # -- artifact: the combiner; the members are models of their own ----------------------------

    def save(self, folder: Path, metadata: dict[str, Any]) -> Path:
        metadata = dict(
            metadata,
            model=self.name,
            labels=self.labels,
            thresholds={"per_tag": [], **metadata.get("thresholds", {}), "named": self.named_threshold_},
            library_versions=library_versions("scikit-learn", "numpy"),
        )
        writers = {
            COMBINER_FILE: lambda path: joblib.dump(self.combiner_, path),
            RECALL_FILE: lambda path: path.write_text(json.dumps(self.validation_recall_, sort_keys=True)),
        }
        save_artifact(folder, writers, metadata)
        self.metadata = metadata
        return Path(folder)

    @classmethod
    def load(cls, folder: Path, options: ServingOptions | None = None) -> EnsembleTagger:
        import sklearn

        folder = Path(folder)
        hint = rebuild_hint(cls.name)
        metadata = open_artifact(folder, cls.name, hint, {"scikit-learn": sklearn.__version__})
        members = {}
        for name, version in metadata.get("member_versions", {}).items():
            try:
                member = load_predictor(name, folder.parent, options)
            except ModelUnavailable as error:
                raise ArtifactError(f"the ensemble's {name} member is not available: {error}") from error
            if member.version != version:
                raise ArtifactError(
                    f"the ensemble was built on {version}, but the {name} model is now {member.version}; "
                    f"rebuild it with: {hint}"
                )
            members[name] = member
        try:
            combiner = joblib.load(folder / COMBINER_FILE)
        except Exception as error:
            raise unreadable(folder, error, hint) from error
        model = cls(members, metadata.get("title_only", ()))
        model.combiner_ = combiner
        if model.labels != list(metadata["labels"]):  # learning members count as saved: base_labels
            raise ArtifactError(f"{folder} is inconsistent with its members' labels; rebuild it with: {hint}")
        model.thresholds_ = np.full(len(model.labels), float(metadata["thresholds"]["global"]))
        model.named_threshold_ = metadata["thresholds"].get("named")
        model.metadata = metadata
        if RECALL_FILE in metadata.get("files", {}):  # artifacts from before it learn no misses
            try:
                model.validation_recall_ = json.loads((folder / RECALL_FILE).read_text())
            except (OSError, ValueError) as error:
                raise unreadable(folder, error, hint) from error
            model._expect_misses()
        return model
