"""The open-vocabulary models on a tiny corpus: each trains through the same interface as
``python -m ml train``, saves, loads through the registry, and suggests tags."""

import json
import math
import random

import numpy as np
import pytest

from ml.backends.ensemble import EnsembleTagger
from ml.backends.lexical import EVIDENCE, LexicalMatcher, TermIndex, find_candidates
from ml.data.catalogue import TagCatalogue, load_catalogue
from ml.data.sources import Source, load_corpus
from ml.evaluate import all_tag_metrics
from ml.predictor import Predictor, TrainOptions
from ml.registry import load_predictor
from ml.text import question_text
from tests.helpers.support import make_questions

SPELLINGS = {"docker": ["docker"], "kubernetes": ["kubernetes", "k8s"], "reactjs": ["react", "reactjs"]}
FILLERS = ["pod keeps restarting", "state not updating", "how to fix build", "list of string values", "error"]


def open_questions(n: int, seed: int = 0) -> list[dict]:
    """Questions whose tags are named in the title (for the matcher) or given away by their
    words (for the classifier), with tag-like distractors ("list", "string") that never are tags."""
    rng = random.Random(seed)
    records = [{"title": title, "tags": tags} for title, tags in make_questions(n // 2, seed)]
    for _ in range(n - len(records)):
        tag = rng.choice(sorted(SPELLINGS))
        records.append({"title": f"{rng.choice(SPELLINGS[tag])} {rng.choice(FILLERS)}", "tags": [tag]})
    return records


@pytest.fixture(scope="session")
def open_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("open")
    data = folder / "open.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in open_questions(600)))
    corpus = load_corpus((Source("open", str(data), "jsonl", "all", "hash"),), splits_dir=None)
    models = folder / "models"
    for name, params in (
        ("omikuji", {"omikuji_min_count": 2}),
        ("lexical", {}),
        ("ensemble", {"members": "omikuji,lexical"}),
    ):
        kind_class = load_kind(name)
        kind_class.train(corpus, TrainOptions(output=models / name, command=f"train {name}", params=params))
    return models


def load_kind(name: str) -> type[Predictor]:
    from ml.registry import get_kind

    return get_kind(name).predictor_class()


def test_all_tag_metrics_count_unknown_gold_tags_as_misses():
    gold = [{"python", "pandas"}, {"docker"}]
    chosen = [["python"], ["kubernetes"]]
    ranked = [["python", "numpy"], ["kubernetes", "docker"]]
    metrics = all_tag_metrics(gold, chosen, ranked)
    assert metrics["micro_precision"] == 0.5 and metrics["micro_recall"] == round(1 / 3, 4)
    assert metrics["micro_f1"] == 0.4 and metrics["precision_at_1"] == 0.5
    assert metrics["recall_at_2"] == round((0.5 + 1.0) / 2, 4) and metrics["precision_at_2"] == 0.5


def test_the_matcher_finds_names_synonyms_phrases_and_code_clues():
    catalogue = TagCatalogue(
        {"react-hooks": 500, "reactjs": 900, "kubernetes": 800, "python-3.x": 900, "python-polars": 200, "list": 999},
        {"react": "reactjs", "k8s": "kubernetes", "python-3": "python-3.x", "nextjs": "next.js"},
    )
    index = TermIndex(catalogue, min_count=100)
    text = question_text("React hooks in K8s with Python 3", "<p>some prose</p><pre>import polars as pl</pre>")
    found = find_candidates(index, text)
    assert {"react-hooks", "kubernetes", "python-3.x", "python-polars"} <= set(found)
    assert found["react-hooks"].n_tokens == 2 and found["react-hooks"].title_count == 1
    assert found["python-polars"].code_clue == 1 and found["python-polars"].title_count == 0
    assert found["kubernetes"].spelling == "k8s"


def test_each_open_model_trains_saves_loads_and_suggests(open_models):
    omikuji = load_predictor("omikuji", open_models)
    assert omikuji.predict(["django pip virtualenv"], top_k=1)[0][0][0] == "python"
    lexical = load_predictor("lexical", open_models)
    assert len(lexical.labels) > 10_000  # every popular catalogue tag, not just the ones in training
    best = lexical.predict(["k8s pod keeps restarting"], top_k=1)[0][0]
    assert best[0] == "kubernetes" and best[1] > 0.5
    for model in (omikuji, lexical):
        metadata = model.metadata
        assert metadata["metrics"]["test"]["all"]["n_samples"] > 0
        assert 0 < metadata["thresholds"]["global"] < 1 and metadata["model_version"].startswith(model.name)


def test_the_ensemble_combines_its_members(open_models):
    ensemble = load_predictor("ensemble", open_models)
    assert list(ensemble.members) == ["lexical", "omikuji"]
    assert ensemble.members["lexical"] is load_predictor("lexical", open_models)  # held once per process
    assert ensemble.predict(["react state not updating"], top_k=1)[0][0][0] == "reactjs"
    metadata = ensemble.metadata
    assert metadata["thresholds"]["global"] == ensemble.thresholds[0]
    assert (
        metadata["metrics"]["validation"]["out_of_fold"]
        and metadata["metrics"]["validation"]["all"]["micro_f1"] > 0.5
        and len(metadata["features"]) == 9 + len(EVIDENCE)
    )


class Fixed(Predictor):
    def __init__(self, labels, scores):
        self.labels, self.scores = labels, np.asarray([scores], dtype=float)
        self.thresholds = np.full(len(labels), 0.5)

    def predict_scores(self, texts):
        return np.repeat(self.scores, len(texts), axis=0)


def test_ensemble_candidates_say_which_member_proposed_what():
    first = Fixed(["python", "html", "html5"], [0.8, 0.6, 0.1])
    second = Fixed(["python", "docker"], [0.4, 0.0])
    ensemble = EnsembleTagger({"second": second, "first": first})
    assert ensemble.labels == ["python", "html", "docker"]  # html5 is html today; members sorted by name
    tags, features = ensemble.candidates(["a question", "another"])
    assert tags == [["python", "html"], ["python", "html"]]  # a zero score proposes nothing
    by_tag = dict(zip(tags[0], features[: len(tags[0])].tolist(), strict=True))
    names = ensemble.feature_names
    python, html = dict(zip(names, by_tag["python"], strict=True)), dict(zip(names, by_tag["html"], strict=True))
    assert python == {
        "first score": 0.8, "second score": 0.4, "first rank": 0, "second rank": 0,
        "first knows": 1.0, "second knows": 1.0, "members proposing": 2,
        "log10 questions with the tag": math.log10(1 + load_catalogue().counts["python"]), "candidates": 2,
    }  # fmt: skip
    # The second member cannot know html at all: its silence is marked as such, not as a low score.
    assert html["second knows"] == 0.0 and html["second rank"] == 50 and html["members proposing"] == 1


def test_members_trained_on_titles_read_only_the_title():
    seen = []

    class Recording(Fixed):
        def predict_scores(self, texts):
            seen.append(list(texts))
            return super().predict_scores(texts)

    ensemble = EnsembleTagger(
        {"titles": Recording(["python"], [0.9]), "full": Recording(["docker"], [0.8])}, title_only=["titles"]
    )
    ensemble.candidates([question_text("Docker in python", "<p>the body</p>")])
    assert seen == [["Docker in python\nthe body"], ["Docker in python"]]  # "full" first: members are sorted


def test_the_site_serves_the_open_models_with_the_ensemble_as_default(open_models, tmp_path):
    from tests.helpers.support import make_app

    client = make_app(open_models, tmp_path / "site.sqlite3").test_client()
    created = client.post("/api/v1/suggest", json={"title": "k8s pod keeps restarting"}).get_json()
    assert list(created["answers"]) == ["ensemble"]  # the default, without naming a model
    assert created["answers"]["ensemble"]["tags"][0]["tag"] == "kubernetes"
    page = client.get("/models").get_data(as_text=True)
    assert page.count("Test metrics over every real tag") == 3  # omikuji, lexical, ensemble
    assert "Browse and search its" in page and "tags are among the ones it knows" in page  # plain words first
    assert page.count('class="badge badge-best">most accurate') == 1  # among the models measured on every tag
    assert 'value="ensemble" checked' in client.get("/").get_data(as_text=True).replace("\n", " ")


def test_the_matcher_and_the_ensemble_say_why(open_models):
    lexical = load_predictor("lexical", open_models)
    text = question_text("k8s pod keeps restarting", "<p>the pod runs docker images</p>")
    reasons = lexical.reasons(text, ["kubernetes", "docker", "python"])
    assert reasons["kubernetes"] == [
        {"kind": "phrase", "text": "k8s", "weight": 1.0, "match": "synonym", "where": ["title"]}
    ]
    assert reasons["docker"][0]["where"] == ["body"] and "python" not in reasons  # never found: no reason

    ensemble = load_predictor("ensemble", open_models)
    merged = ensemble.reasons(text, ["kubernetes"])
    # The members' reasons, each naming its member; omikuji's tree gives none.
    assert merged == {"kubernetes": [reasons["kubernetes"][0] | {"model": "lexical"}]}


def test_title_only_members_answer_a_repeated_title_from_memory():
    seen = []

    class Recording(Fixed):
        def predict_scores(self, texts):
            seen.append(list(texts))
            return super().predict_scores(texts)

    ensemble = EnsembleTagger(
        {"titles": Recording(["python"], [0.9]), "full": Recording(["docker"], [0.8])}, title_only=["titles"]
    )
    for body in ("<p>the b</p>", "<p>the body</p>", "<p>the body grows</p>"):  # someone typing the body
        tags, _ = ensemble.candidates([question_text("Docker in python", body)])
        assert tags == [["docker", "python"]]
    assert seen.count(["Docker in python"]) == 1 and len(seen) == 4  # the full-text member ran each time


def test_suggest_to_stdout_is_json_lines_with_omikuji_loaded(open_models):
    # Omikuji's Rust logger writes to descriptor 1: its lines must not mix with the output.
    import subprocess
    import sys

    question = json.dumps({"title": "k8s pod keeps restarting"}) + "\n"
    argv = ["-m", "ml", "suggest", "--model", "ensemble", "--models-dir", str(open_models)]
    done = subprocess.run(
        [sys.executable, *argv, "--input", "-", "--output", "-"], input=question, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["tags"]
    assert "omikuji" in done.stderr  # its log lines went to stderr


def test_the_matcher_knows_every_catalogue_tag_and_how_each_name_was_written():
    catalogue = TagCatalogue({"htmx": 3, "pyproject.toml": 2, "swap": 900, "layout": 999}, {})
    index = TermIndex(catalogue)  # every tag, however rare
    found = find_candidates(index, question_text("Swap a row with `htmx`", "the HTMX docs; pyproject.toml layout"))
    assert {"htmx", "pyproject.toml", "swap", "layout"} <= set(found)
    assert found["swap"].title_start == 1 and found["swap"].case == 1  # Capitalised, first word
    assert found["htmx"].quoted == 1 and found["htmx"].case == 0 and found["htmx"].title_count == 1
    assert found["pyproject.toml"].title_count == 0 and found["pyproject.toml"].body_count == 1


def test_a_tag_the_title_names_is_held_to_the_named_threshold(open_models):
    ensemble = load_predictor("ensemble", open_models)
    named = ensemble.metadata["thresholds"]["named"]
    assert named is None or named < ensemble.threshold_  # chosen on validation, or not at all
    # Around whatever threshold this tiny ensemble chose (it varies with the tree's threads).
    line = ensemble.threshold_
    lower = line / 2
    probabilities = np.array([lower / 2, lower, (lower + line) / 2, line, (1 + line) / 2, 1.0])
    lifted = ensemble._lift(probabilities, np.array([True] * 5 + [False]), lower)
    assert lifted[1] == pytest.approx(line)  # the named threshold lands on the global one
    assert np.all(np.diff(lifted[:5]) > 0) and lifted[0] < line  # order kept
    assert lifted[5] == 1.0 and np.all(lifted[:5] >= probabilities[:5])  # only named ones move, only up


def test_the_matchers_tag_counts_do_not_tell_a_training_question_its_own_label():
    # Each library's name is in 80 titles and is the right tag, by a coin toss, for about
    # half. Counted without the question itself, a tag looked one question rarer exactly when
    # it was the answer, so the scorer learned that the full count a new question sees means
    # "wrong".
    libraries = [f"lib{n}" for n in range(6)]
    catalogue = TagCatalogue({**{name: 10 ** (n + 1) for n, name in enumerate(libraries)}, "python": 10**8}, {})
    coin = random.Random(7)
    texts, gold = [], []
    for name in libraries:
        for k in range(80):
            texts.append(question_text(f"Trouble with {name} and a loop number {k}", ""))
            gold.append({"python", name} if coin.random() < 0.5 else {"python"})
    matcher = LexicalMatcher(catalogue=catalogue).fit(texts, gold)
    scores = matcher.predict_scores([question_text(f"How to install {name} on Windows", "") for name in libraries])
    named = scores[:, [matcher.labels.index(name) for name in libraries]].diagonal()
    assert 0.3 < float(named.mean()) < 0.7  # right half the time in training


def test_eval_reports_ptm4tag_protocol_beside_every_tag(open_models, tmp_path, capsys):
    from ml.cli import main

    metrics_file = tmp_path / "metrics.json"
    command = ["eval", "--model", "ensemble", "--models-dir", str(open_models), "--split", "test"]
    assert main([*command, "--metrics-file", str(metrics_file)]) == 0
    out = capsys.readouterr().out
    assert "Scored over every real tag" in out and "PTM4Tag's protocol (tags with >= 50 uses" in out
    protocol = json.loads(metrics_file.read_text())["ptm4tag"]
    assert protocol["min_uses"] == 50 and protocol["n_samples"] > 0 and 0 <= protocol["f1_at_5"] <= 1
    assert protocol["precision_at_1"] > 0.5  # the fixture's questions name their tag
